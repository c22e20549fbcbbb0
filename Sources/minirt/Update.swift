import ArgumentParser
import MinirtKit

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change containers' resource limits and restart policy.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], parsing: .unconditional, help: ArgumentHelp("Memory limit (6m minimum).", valueName: "bytes")) var memory: String?
    @Option(name: .customLong("memory-swap"), parsing: .unconditional, help: ArgumentHelp("Memory plus swap (-1: unlimited).", valueName: "bytes")) var memorySwap: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Number of CPUs.", valueName: "n")) var cpus: String?
    @Option(name: [.short, .customLong("cpu-shares")], parsing: .unconditional, help: ArgumentHelp("CPU weight.", valueName: "n")) var cpuShares: Int64?
    @Option(name: .customLong("pids-limit"), parsing: .unconditional, help: ArgumentHelp("Most processes (0 or -1: unlimited).", valueName: "n")) var pidsLimit: Int64?
    @Option(help: ArgumentHelp("no, always, unless-stopped or on-failure[:N].", valueName: "policy")) var restart: String?
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        var o = ConfinementOptions()
        o.memory = memory
        o.memorySwap = memorySwap
        o.cpus = cpus
        o.cpuShares = cpuShares
        o.pidsLimit = pidsLimit
        let c = global.containers()
        try forEachName(containers) { _ = try c.update($0, limits: o, restart: restart) }
    }
}
