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

    @Option(name: .customLong("cpuset-cpus"), help: ArgumentHelp("CPUs the container may run on (0-3, 0,1).", valueName: "list")) var cpusetCpus: String?
    @Option(name: .customLong("cpuset-mems"), help: ArgumentHelp("Memory nodes it may use (0-3, 0,1).", valueName: "list")) var cpusetMems: String?
    @Option(name: .customLong("cpu-period"), parsing: .unconditional, help: ArgumentHelp("The CFS period, in microseconds.", valueName: "us")) var cpuPeriod: Int64?
    @Option(name: .customLong("cpu-quota"), parsing: .unconditional, help: ArgumentHelp("The CFS quota, in microseconds (-1: none).", valueName: "us")) var cpuQuota: Int64?
    @Option(name: .customLong("cpu-rt-period"), parsing: .unconditional, help: ArgumentHelp("The real-time period, in microseconds.", valueName: "us")) var cpuRtPeriod: Int64?
    @Option(name: .customLong("cpu-rt-runtime"), parsing: .unconditional, help: ArgumentHelp("The real-time runtime, in microseconds.", valueName: "us")) var cpuRtRuntime: Int64?
    @Option(name: .customLong("blkio-weight"), parsing: .unconditional, help: ArgumentHelp("Block I/O weight, 10 to 1000.", valueName: "n")) var blkioWeight: Int64?
    @Option(name: .customLong("blkio-weight-device"), help: ArgumentHelp("A device's block I/O weight: DEVICE:WEIGHT.", valueName: "device")) var blkioWeightDevice: [String] = []
    @Option(name: .customLong("device-read-bps"), help: ArgumentHelp("Read rate limit: DEVICE:RATE (1mb).", valueName: "device")) var deviceReadBps: [String] = []
    @Option(name: .customLong("device-write-bps"), help: ArgumentHelp("Write rate limit: DEVICE:RATE (1mb).", valueName: "device")) var deviceWriteBps: [String] = []
    @Option(name: .customLong("device-read-iops"), help: ArgumentHelp("Read operations a second: DEVICE:N.", valueName: "device")) var deviceReadIops: [String] = []
    @Option(name: .customLong("device-write-iops"), help: ArgumentHelp("Write operations a second: DEVICE:N.", valueName: "device")) var deviceWriteIops: [String] = []
    @Option(name: .customLong("memory-reservation"), parsing: .unconditional, help: ArgumentHelp("A soft memory limit.", valueName: "bytes")) var memoryReservation: String?
    @Option(name: .customLong("memory-swappiness"), parsing: .unconditional, help: ArgumentHelp("How readily its pages are swapped, 0 to 100 (-1: the host's).", valueName: "n")) var memorySwappiness: Int64?
    @Flag(name: .customLong("oom-kill-disable"), help: "Do not let the OOM killer kill its processes.") var oomKillDisable = false
    @Option(name: .customLong("kernel-memory"), help: ArgumentHelp("Refused: the kernel no longer limits kernel memory.", valueName: "bytes")) var kernelMemory: String?

    func apply(to c: inout ConfinementOptions) {
        c.cpusetCpus = cpusetCpus
        c.cpusetMems = cpusetMems
        c.cpuPeriod = cpuPeriod
        c.cpuQuota = cpuQuota
        c.cpuRtPeriod = cpuRtPeriod
        c.cpuRtRuntime = cpuRtRuntime
        c.blkioWeight = blkioWeight
        c.blkioWeightDevice = blkioWeightDevice
        c.deviceReadBps = deviceReadBps
        c.deviceWriteBps = deviceWriteBps
        c.deviceReadIops = deviceReadIops
        c.deviceWriteIops = deviceWriteIops
        c.memoryReservation = memoryReservation
        c.memorySwappiness = memorySwappiness
        c.oomKillDisable = oomKillDisable
        c.kernelMemory = kernelMemory
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
