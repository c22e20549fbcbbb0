import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A process named by pid and start time, so a pid the kernel recycled for
/// another program is never mistaken for the container (see design notes).
public enum ProcessIdentity {
    /// Field 3 (state) and field 22 (start time, clock ticks after boot) of /proc/PID/stat.
    static func stat(of pid: Int32) -> (state: UInt8, startTime: UInt64)? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
        guard let close = data.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = data[(close + 1)...].split(separator: UInt8(ascii: " "))
        // rest[0] is field 3 (state); field 22 is rest[19].
        guard rest.count > 19, let state = rest[0].first, let t = UInt64(String(decoding: rest[19], as: UTF8.self)) else { return nil }
        return (state, t)
    }

    /// The process's start time, or nil if there is no such process.
    public static func startTime(of pid: Int32) -> UInt64? { stat(of: pid)?.startTime }

    /// True when pid is the same process that started at startTime and has not
    /// exited: a zombie (state Z, or X while it is reaped) is dead, as runc treats it.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let s = stat(of: pid) else { return false }
        return s.startTime == startTime && s.state != UInt8(ascii: "Z") && s.state != UInt8(ascii: "X")
    }

    /// True when the process has exited but not been reaped (state Z).
    public static func isZombie(_ pid: Int32) -> Bool {
        stat(of: pid)?.state == UInt8(ascii: "Z")
    }
}
