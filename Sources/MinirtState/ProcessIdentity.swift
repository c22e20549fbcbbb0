import CMinirtShim
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

    /// The pid as the process sees it in its own PID namespace (the last field
    /// of NSpid in /proc/PID/status), e.g. 1 for a container's init.
    public static func pidInOwnNamespace(_ pid: Int32) -> Int32? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/status") else { return nil }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("NSpid:") }
        return line?.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int32($0) }
    }

    /// True when the process has exited but not been reaped (state Z).
    public static func isZombie(_ pid: Int32) -> Bool {
        stat(of: pid)?.state == UInt8(ascii: "Z")
    }
}

/// A container's init (or its supervisor) as one thing to signal and wait
/// for: named by pid and start time, and through a pidfd once opened, so a
/// signal can never reach a process that recycled the pid.
public final class ContainerProcess: @unchecked Sendable {
    public let pid: Int32
    public let startTime: UInt64
    private var pidfd: Int32 = -1

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
        guard pid > 0 else { return }
        let fd = minirt_pidfd_open(pid)
        // The identity is checked after the pidfd exists: from then on it names this process.
        if fd >= 0 && !ProcessIdentity.isAlive(pid: pid, startTime: startTime) { close(fd) } else { pidfd = fd }
    }

    deinit { if pidfd >= 0 { close(pidfd) } }

    public var isAlive: Bool { ProcessIdentity.isAlive(pid: pid, startTime: startTime) }

    /// Sends sig if the process is still the one named; false when it is gone.
    @discardableResult
    public func signal(_ sig: Int32) -> Bool {
        if pidfd >= 0 { return minirt_pidfd_send_signal(pidfd, sig) == 0 }
        guard isAlive else { return false }
        return kill(pid, sig) == 0
    }

    /// Waits up to `seconds` for it to die (a zombie is dead); true when it did.
    public func waitForExit(seconds: Double) -> Bool {
        let deadline = Timestamp.now().seconds + seconds
        while isAlive {
            let left = deadline - Timestamp.now().seconds
            if left <= 0 { return false }
            if pidfd >= 0 {
                // A pidfd polls readable once the process has exited, reaped or not.
                var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, Int32(min(left, 0.5) * 1000) + 1)
            } else {
                usleep(5_000)
            }
        }
        return true
    }

    /// What the kernel says it is doing, for an error message when it will not die.
    public var whereStuck: String {
        func read(_ f: String) -> String {
            FileManager.default.contents(atPath: "/proc/\(pid)/\(f)").map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let state = read("status").split(separator: "\n").first { $0.hasPrefix("State:") }.map(String.init) ?? "gone"
        let stack = read("stack").split(separator: "\n").prefix(3)
            .map { $0.split(separator: " ").last.map(String.init) ?? "" }.joined(separator: " < ")
        return "\(state), in \(read("wchan").isEmpty ? "?" : read("wchan")) [\(stack)]"
    }
}
