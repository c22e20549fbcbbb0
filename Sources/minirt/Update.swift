import ArgumentParser
import MinirtKit

/// The resource flags `run` and `update` share, as docker spells them.
struct LimitFlags: ParsableArguments {
    @Option(name: [.short, .long], parsing: .unconditional, help: ArgumentHelp("Memory limit (6m minimum; b, k, m, g).", valueName: "bytes"))
    var memory: String?

    @Option(name: .customLong("memory-swap"), parsing: .unconditional, help: ArgumentHelp("Memory plus swap limit (-1: unlimited swap).", valueName: "bytes"))
    var memorySwap: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of CPUs (e.g. 0.5).", valueName: "n"))
    var cpus: String?

    @Option(name: [.short, .customLong("cpu-shares")], parsing: .unconditional, help: ArgumentHelp("CPU weight relative to others (default 1024).", valueName: "n"))
    var cpuShares: Int64?

    @Option(name: .customLong("pids-limit"), parsing: .unconditional, help: ArgumentHelp("Most processes the container may have (0 or -1: unlimited).", valueName: "n"))
    var pidsLimit: Int64?

    func apply(to c: inout ConfinementOptions) {
        c.memory = memory
        c.memorySwap = memorySwap
        c.cpus = cpus
        c.cpuShares = cpuShares
        c.pidsLimit = pidsLimit
    }
}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change containers' resource limits and restart policy.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var limits: LimitFlags
    @Option(help: ArgumentHelp("no, always, unless-stopped or on-failure[:N].", valueName: "policy")) var restart: String?
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        var o = ConfinementOptions()
        limits.apply(to: &o)
        let c = global.containers()
        try forEachName(containers) { _ = try c.update($0, limits: o, restart: restart) }
    }
}
