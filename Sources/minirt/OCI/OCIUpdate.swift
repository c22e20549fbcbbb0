import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtKit

struct OCIUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", _superCommandName: "oci", abstract: "Change a running container's resource limits.")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("LinuxResources JSON file (- for stdin).", valueName: "file")) var resources: String?
    @Option(help: ArgumentHelp("Memory limit in bytes.", valueName: "bytes")) var memory: Int64?
    @Option(name: .customLong("memory-swap"), parsing: .unconditional, help: ArgumentHelp("Memory plus swap, in bytes (-1 unlimited).", valueName: "bytes")) var memorySwap: Int64?
    @Option(name: .customLong("cpu-quota"), parsing: .unconditional, help: ArgumentHelp("CFS quota in microseconds.", valueName: "us")) var cpuQuota: Int64?
    @Option(name: .customLong("cpu-period"), help: ArgumentHelp("CFS period in microseconds.", valueName: "us")) var cpuPeriod: UInt64?
    @Option(name: .customLong("cpu-share"), help: ArgumentHelp("CPU shares.", valueName: "n")) var cpuShare: UInt64?
    @Option(name: .customLong("pids-limit"), parsing: .unconditional, help: ArgumentHelp("Most processes.", valueName: "n")) var pidsLimit: Int64?
    @Argument var id: String

    func run() throws {
        try global.run { c in
            var r = OCISpec.Resources()
            if let file = resources {
                let data = file == "-" ? FileHandleInput.readAll() : FileManager.default.contents(atPath: file)
                guard let data else { throw OCIError("resources file \(file) cannot be read") }
                do { r = try JSONDecoder().decode(OCISpec.Resources.self, from: data) } catch {
                    throw OCIError("resources file \(file): \((error as? DecodingError).map(SeccompProfile.describe) ?? "\(error)")")
                }
            }
            if memory != nil || memorySwap != nil {
                var m = r.memory ?? OCISpec.Memory()
                if let memory { m.limit = memory }
                if let memorySwap { m.swap = memorySwap }
                r.memory = m
            }
            if cpuQuota != nil || cpuPeriod != nil || cpuShare != nil {
                var cpu = r.cpu ?? OCISpec.CPU()
                if let cpuQuota { cpu.quota = cpuQuota }
                if let cpuPeriod { cpu.period = cpuPeriod }
                if let cpuShare { cpu.shares = cpuShare }
                r.cpu = cpu
            }
            if let pidsLimit { r.pids = OCISpec.Pids(limit: pidsLimit) }
            try c.update(id, r)
        }
    }
}
