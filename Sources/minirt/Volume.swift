import ArgumentParser
import FoundationEssentials
import Glibc
import MinirtKit

struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Manage named volumes (-v NAME:/path).",
        subcommands: [VolumeCreate.self, VolumeList.self, VolumeInspect.self, VolumeRemove.self, VolumePrune.self])
}

struct VolumeCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume (a random name if none is given).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Volume name.", valueName: "name")) var name: String?
    func run() throws {
        do { print(try global.containers().createVolume(name)) } catch { throw fail(error, defaultCode: 1) }
    }
}

struct VolumeList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Only print names.") var quiet = false
    func run() throws {
        let names = global.containers().volumes.names()
        if quiet { names.forEach { print($0) }; return }
        print("DRIVER    VOLUME NAME")
        names.forEach { print("local     \($0)") }
    }
}

struct VolumeInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show volumes as JSON.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("A Go-style template for each volume.", valueName: "template")) var format: String?
    @Argument(help: ArgumentHelp("Volume names.", valueName: "name")) var names: [String]
    func run() throws {
        do {
            let v = global.containers().volumes
            try printViews(try names.map { try v.view($0) }, template: try format.map(Template.init))
        } catch { throw fail(error, defaultCode: 1) }
    }
}

struct VolumeRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove volumes no container uses.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Accepted for docker's sake (a volume in use is still refused).") var force = false
    @Argument(help: ArgumentHelp("Volume names.", valueName: "name")) var names: [String]
    func run() throws {
        let c = global.containers()
        try forEachName(names) { try c.removeVolume($0) }
    }
}

struct VolumePrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove the anonymous volumes no container uses (-a: every unused one).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Do not ask (minirt never asks).") var force = false
    @Flag(name: [.short, .long], help: "Also the named volumes no container uses (by default only anonymous ones go, as in docker).") var all = false
    func run() throws {
        let removed = global.containers().pruneVolumes(all: all)
        print("Deleted Volumes:")
        removed.forEach { print($0) }
        print("\nTotal reclaimed volumes: \(removed.count)")
    }
}
