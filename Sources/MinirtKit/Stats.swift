import FoundationEssentials
import Glibc
import MinirtEngine
import MinirtState

/// One sample of a running container's resource use, read from its cgroup and
/// (for network bytes) from its network namespace through /proc/PID/net/dev.
public struct StatsSample: Sendable {
    public var record: ContainerRecord
    public var usage: Cgroup.Usage
    public var netRx: UInt64 = 0
    public var netTx: UInt64 = 0
    public var blockRead: UInt64 = 0
    public var blockWrite: UInt64 = 0
    public var taken: Double

    public init(_ r: ContainerRecord) {
        record = r
        let cg = Containers.cgroup(of: r)
        usage = cg?.usage() ?? Cgroup.Usage()
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        taken = Double(now.tv_sec) * 1e9 + Double(now.tv_nsec)
        if r.state.status == .running, let dev = try? String(contentsOfFile: "/proc/\(r.state.pid)/net/dev", encoding: .utf8) {
            // "  eth0: rx_bytes rx_packets ... (8 receive fields) tx_bytes ..."
            for line in dev.split(separator: "\n").dropFirst(2) {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmed() != "lo" else { continue }
                let f = parts[1].split(separator: " ").compactMap { UInt64($0) }
                if f.count >= 9 { netRx += f[0]; netTx += f[8] }
            }
        }
        (blockRead, blockWrite) = cg?.blockIO() ?? (0, 0)
    }
}

/// `docker stats`'s columns.
public struct StatsRow: Encodable, Sendable {
    public var Container: String
    public var ID: String
    public var Name: String
    public var CPUPerc: String
    public var MemUsage: String
    public var MemPerc: String
    public var NetIO: String
    public var BlockIO: String
    public var PIDs: String

    public static let headers = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
    public var cells: [String] { [Container, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs] }

    /// CPU % over the interval between two samples (100% = one CPU busy, as in Docker).
    public init(_ before: StatsSample, _ after: StatsSample, hostMemory: UInt64) {
        let r = after.record
        Container = r.shortID
        ID = r.id
        Name = r.name
        let wall = after.taken - before.taken
        let cpu = after.usage.cpuNanoseconds >= before.usage.cpuNanoseconds
            ? Double(after.usage.cpuNanoseconds - before.usage.cpuNanoseconds) : 0
        CPUPerc = NumberText.fixed(wall > 0 ? cpu / wall * 100 : 0, places: 2) + "%"
        let limit = after.usage.memoryLimit.map { min($0, hostMemory) } ?? hostMemory
        MemUsage = "\(Self.binary(after.usage.memoryBytes)) / \(Self.binary(limit))"
        MemPerc = NumberText.fixed(limit > 0 ? Double(after.usage.memoryBytes) / Double(limit) * 100 : 0, places: 2) + "%"
        NetIO = "\(Self.decimal(after.netRx)) / \(Self.decimal(after.netTx))"
        BlockIO = "\(Self.decimal(after.blockRead)) / \(Self.decimal(after.blockWrite))"
        PIDs = "\(after.usage.pids)"
    }

    /// 1.5MiB, 64MiB: Docker's BytesSize (powers of 1024, up to 4 significant digits).
    public static func binary(_ n: UInt64) -> String { scaled(Double(n), 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]) }

    /// 1.2kB, 648B: Docker's HumanSize for network and block I/O (powers of 1000).
    public static func decimal(_ n: UInt64) -> String { scaled(Double(n), 1000, ["B", "kB", "MB", "GB", "TB", "PB"]) }

    static func scaled(_ value: Double, _ base: Double, _ units: [String]) -> String {
        var v = value
        var i = 0
        while v >= base && i < units.count - 1 { v /= base; i += 1 }
        var s = NumberText.significant4(v)
        if s.contains("e") { s = NumberText.fixed(v, places: 0) }
        return s + units[i]
    }
}

extension Containers {
    /// The containers `stats` shows: the named ones, or every running one (all with `all`).
    public func statsTargets(_ refs: [String], all: Bool) throws -> [ContainerRecord] {
        if refs.isEmpty { return list(all: all) }
        return try refs.map { try get($0) }
    }

    /// Two samples `interval` apart; one row per container.
    public func stats(_ records: [ContainerRecord], interval: Double) -> [StatsRow] {
        let first = records.map(StatsSample.init)
        usleep(UInt32(interval * 1_000_000))
        let total = Self.hostMemory()
        return zip(first, records).map { before, r in StatsRow(before, StatsSample(refreshed(r)), hostMemory: total) }
    }

    static func hostMemory() -> UInt64 {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let kb = text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0
        return kb * 1024
    }
}
