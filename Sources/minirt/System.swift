import ArgumentParser
import MinirtKit

struct System: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system", abstract: "Housekeeping: prune stopped containers, collect what crashes left.",
        subcommands: [SystemPrune.self, SystemGC.self])
}

struct SystemPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove all stopped containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Do not ask (minirt never asks; accepted for docker's sake).") var force = false

    func run() throws {
        let removed = global.containers().prune()
        print("Deleted Containers:")
        removed.forEach { print($0) }
        print("\nTotal reclaimed containers: \(removed.count)")
    }
}

struct SystemGC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Release what crashed minirt processes left: attachments, names, leases, DNS entries.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let fixed = global.containers().gc()
        fixed.forEach { print($0) }
        if fixed.isEmpty { print("nothing to collect") }
    }
}
