import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A process named by pid and start time, so a pid the kernel recycled for
/// another program is never mistaken for the container (see design notes).
public enum ProcessIdentity {
    /// Field 22 of /proc/PID/stat (clock ticks after boot), or nil if there is no such process.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
        guard let close = data.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = data[(close + 1)...].split(separator: UInt8(ascii: " "))
        // rest[0] is field 3 (state); field 22 is rest[19].
        guard rest.count > 19 else { return nil }
        return UInt64(String(decoding: rest[19], as: UTF8.self))
    }

    /// True when pid is alive and is the same process that started at startTime.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let t = self.startTime(of: pid) else { return false }
        return t == startTime
    }

    /// True when the process has exited but not been reaped (state Z).
    public static func isZombie(_ pid: Int32) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
              let close = data.lastIndex(of: UInt8(ascii: ")")), close + 2 < data.endIndex else { return false }
        return data[close + 2] == UInt8(ascii: "Z")
    }
}
