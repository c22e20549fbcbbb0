import FoundationEssentials
import MinirtEngine
import MinirtLog
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's --detach-keys: "ctrl-p,ctrl-q" (the default), letters, or
/// ctrl- with a-z, @, [, \, ], ^ or _.
public enum DetachKeys {
    public static let defaultKeys = "ctrl-p,ctrl-q"

    public static func parse(_ text: String) throws -> [UInt8] {
        let bad = RunError.invalid("invalid detach keys \"\(Validate.printable(text))\": write keys such as ctrl-p,ctrl-q (ctrl- with a-z, @, [, \\, ], ^ or _, or single characters)")
        var out: [UInt8] = []
        for key in text.split(separator: ",", omittingEmptySubsequences: false) {
            let k = Array(key.utf8)
            if k.count == 1, k[0] >= 0x20, k[0] < 0x7f { out.append(k[0]); continue }
            guard k.count == 6, key.hasPrefix("ctrl-") else { throw bad }
            let c = k[5]
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): out.append(c - UInt8(ascii: "a") + 1)
            case UInt8(ascii: "@"): out.append(0)
            case UInt8(ascii: "["), UInt8(ascii: "\\"), UInt8(ascii: "]"), UInt8(ascii: "^"), UInt8(ascii: "_"): out.append(c - 0x40)
            default: throw bad
            }
        }
        guard !out.isEmpty else { throw bad }
        return out
    }

    /// Scans input for the sequence across reads: what to pass on, and whether it was typed.
    /// A partial match is held back until it is decided (docker does the same).
    public struct Matcher {
        let keys: [UInt8]
        var held: [UInt8] = []
        public init(_ keys: [UInt8]) { self.keys = keys }

        public mutating func feed(_ bytes: ArraySlice<UInt8>) -> (pass: [UInt8], detached: Bool) {
            var pass: [UInt8] = []
            for b in bytes {
                held.append(b)
                if held == keys { return (pass, true) }
                while !held.isEmpty && !keys.starts(with: held) {
                    pass.append(held.removeFirst())
                }
            }
            return (pass, false)
        }
    }
}

public struct AttachOptions: Sendable {
    public var noStdin = false
    public var sigProxy = true
    public var detachKeys: String?
    public init() {}
}

extension Containers {
    /// `minirt attach`: the live output of a detached container (from its
    /// supervisor, see minirt-supervisor) and, when it keeps stdin open or has a
    /// terminal, our input into it; returns its exit code once it ends, or 0
    /// when the detach keys were typed (the container runs on).
    public func attach(_ ref: String, _ o: AttachOptions) throws -> Int32 {
        let r = try get(ref)
        guard r.state.status == .running, Self.isAlive(r) else {
            throw RunError.invalid("you cannot attach to a stopped container, start it first (minirt start \(r.name))")
        }
        let keys = try DetachKeys.parse(o.detachKeys ?? r.config.detachKeys ?? DetachKeys.defaultKeys)
        let sock: Int32
        do { sock = try OCIContainers.connectUnix(store.directory(r.id) + "/attach", what: "the container's supervisor") } catch {
            throw RunError.invalid("cannot attach to \(r.name): it runs in the foreground of its minirt run (attach needs run -d or start)")
        }
        defer { close(sock) }
        let tty = r.config.tty
        let input = !o.noStdin && (r.config.openStdin || tty)

        // With a terminal, keys go to the container's as typed (ctrl-c included).
        var saved = termios()
        let raw = tty && input && isatty(0) == 1 && tcgetattr(0, &saved) == 0
        if raw {
            var t = saved
            cfmakeraw(&t)
            tcsetattr(0, TCSANOW, &t)
        }
        defer { if raw { tcsetattr(0, TCSANOW, &saved) } }
        // Without one, the signals we get go to the container (docker's sig-proxy).
        var sigfd: Int32 = -1
        if o.sigProxy && !tty { sigfd = SignalForwarding.forwardedSignalsFD() }
        defer { if sigfd >= 0 { close(sigfd) } }

        var matcher = DetachKeys.Matcher(keys)
        var stdinOpen = input
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 32768)
        var detached = false
        loop: while true {
            var fds = [pollfd(fd: sock, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stdinOpen ? 0 : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 3, -1) < 0 { if errno == EINTR { continue }; break }
            if fds[0].revents != 0 {
                let n = recv(sock, &buf, buf.count, 0)
                if n <= 0 { break loop } // the container ended (or its supervisor let us go)
                pending += buf[0..<n]
                // docker's stdcopy frames: stream, 0, 0, 0, big-endian length, bytes.
                while pending.count >= 8 {
                    let length = Int(pending[4]) << 24 | Int(pending[5]) << 16 | Int(pending[6]) << 8 | Int(pending[7])
                    guard pending.count >= 8 + length else { break }
                    JSONLogWriter.writeAll(pending[0] == 2 ? 2 : 1, pending[8..<(8 + length)])
                    pending.removeFirst(8 + length)
                }
            }
            if fds[1].revents != 0 {
                let n = Glibc.read(0, &buf, buf.count)
                if n <= 0 { stdinOpen = false; continue }
                let (pass, typed) = matcher.feed(buf[0..<n])
                if !pass.isEmpty { sendAll(sock, pass) }
                if typed { detached = true; break loop }
            }
            if sigfd >= 0 && fds[2].revents != 0 {
                if let sig = SignalForwarding.next(sigfd) {
                    ContainerProcess(pid: r.state.pid, startTime: r.state.pidStartTime).signal(sig)
                }
            }
        }
        if detached { return 0 }
        _ = waitExited(r, seconds: 10)
        return (try? get(r.id).state.exitCode) ?? 0
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let w = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return }
            off += w
        }
    }
}
