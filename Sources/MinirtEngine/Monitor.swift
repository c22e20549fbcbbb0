import CMinirtShim
import MinirtLog
#if canImport(Glibc)
import Glibc
#endif

/// Signals `minirt run` passes on to the container, as `docker run`'s sig-proxy
/// does; SIGCHLD and SIGWINCH are handled here instead.
public enum SignalForwarding {
    public static let forwarded: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGALRM, SIGCONT]
    public static let handled: [Int32] = forwarded + [SIGCHLD, SIGWINCH, SIGPIPE]

    /// Blocks the handled signals in the calling thread (and so in threads and
    /// children it starts later); they are then read from a signalfd. Call it
    /// before spawning, while the process has one thread.
    public static func block() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// A signalfd for the forwarded signals (blocked first), or -1.
    public static func forwardedSignalsFD() -> Int32 {
        block()
        var set = sigset_t()
        sigemptyset(&set)
        for s in forwarded { sigaddset(&set, s) }
        return signalfd(-1, &set, Int32(SFD_CLOEXEC))
    }

    /// The signal a signalfd has ready, if any.
    public static func next(_ fd: Int32) -> Int32? {
        var info = signalfd_siginfo()
        guard read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size else { return nil }
        return Int32(info.ssi_signo)
    }
}

/// Wait status to a shell-style exit code: the status, or 128+N for signal N.
public func exitCode(fromWaitStatus status: Int32) -> Int32 {
    let sig = status & 0x7f
    return sig == 0 ? (status >> 8) & 0xff : 128 + sig
}

/// Runs in `minirt run` while the container lives in the foreground: forwards
/// signals, copies between the user's terminal and the container's pty, reaps.
public final class ForegroundMonitor {
    let pid: Int32
    let master: Int32?
    let forwardStdin: Bool
    let log: JSONLogWriter?
    /// docker's --sig-proxy: the signals minirt run gets go on to the container.
    let proxySignals: Bool
    /// docker's -a/--attach: the streams copied to ours (all are logged).
    let shown: Set<JSONLogWriter.Stream>
    /// Read ends of the container's stdout and stderr pipes (no terminal): copied
    /// to ours and into the log.
    let outputs: [(fd: Int32, stream: JSONLogWriter.Stream)]
    private var savedTermios: termios?
    /// Called on every turn of the loop: does what is due (a health check) and
    /// says how long the loop may wait before the next turn (ms, -1: forever).
    public var tick: (() -> Int32)?

    public init(pid: Int32, consoleMaster: Int32?, forwardStdin: Bool, log: JSONLogWriter? = nil,
                stdoutPipe: Int32? = nil, stderrPipe: Int32? = nil,
                proxySignals: Bool = true, shown: Set<JSONLogWriter.Stream> = [.stdout, .stderr]) {
        self.pid = pid
        self.proxySignals = proxySignals
        self.shown = shown
        self.master = consoleMaster
        self.forwardStdin = forwardStdin
        self.log = log
        var outs: [(Int32, JSONLogWriter.Stream)] = []
        if let o = stdoutPipe { outs.append((o, .stdout)) }
        if let e = stderrPipe { outs.append((e, .stderr)) }
        self.outputs = outs
        for (fd, _) in outs { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// The terminal size of the user's terminal, if it is one.
    public static func terminalSize() -> (rows: UInt16, cols: UInt16)? {
        var ws = winsize()
        for fd in [Int32(0), 1, 2] where ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_row > 0 {
            return (ws.ws_row, ws.ws_col)
        }
        return nil
    }

    /// Waits for the container's init to exit; returns its raw wait status.
    public func run() -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in SignalForwarding.handled { sigaddset(&set, s) }
        let sfd = signalfd(-1, &set, Int32(SFD_CLOEXEC))

        if let master {
            makeRaw()
            _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        }
        defer { restoreTerminal() }

        var masterOpen = master != nil
        var openOutputs = Set(outputs.map(\.fd))
        var stdinOpen = master != nil && forwardStdin
        var status: Int32 = 0
        var buf = [UInt8](repeating: 0, count: 32 * 1024)

        while true {
            if let s = reapIfExited() { status = s; break }
            var fds = [pollfd(fd: sfd, events: Int16(POLLIN), revents: 0)]
            if masterOpen, let m = master { fds.append(pollfd(fd: m, events: Int16(POLLIN), revents: 0)) }
            if stdinOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            for (fd, _) in outputs where openOutputs.contains(fd) { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let due = tick?() ?? -1
            let n = poll(&fds, nfds_t(fds.count), sfd >= 0 ? due : (due < 0 ? 100 : min(due, 100)))
            if n < 0 && errno != EINTR { break }
            for p in fds where p.revents != 0 {
                if p.fd == sfd {
                    handleSignal(sfd)
                } else if p.fd == master {
                    if copyOut(buf: &buf) == .closed { masterOpen = false }
                } else if let out = outputs.first(where: { $0.fd == p.fd }) {
                    log?.drain(out.fd, stream: out.stream, echo: echo(out.stream))
                    if p.revents & Int16(POLLHUP) != 0 && p.revents & Int16(POLLIN) == 0 { openOutputs.remove(out.fd) }
                } else if p.fd == 0 {
                    let r = read(0, &buf, buf.count)
                    if r > 0, let m = master {
                        writeAll(m, buf, r)
                    } else if r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN) {
                        stdinOpen = false
                        if let m = master { var eot: UInt8 = 4; _ = write(m, &eot, 1) }
                    }
                }
            }
        }
        // Output the container wrote just before it exited is still in the pty.
        if masterOpen { while copyOut(buf: &buf) == .data {} }
        for out in outputs {
            log?.drain(out.fd, stream: out.stream, flush: true, echo: echo(out.stream))
            close(out.fd)
        }
        if master != nil { log?.flush(.stdout) }
        if sfd >= 0 { close(sfd) }
        if let m = master { close(m) }
        return status
    }

    /// Where a stream is copied: our own stdout or stderr, or nowhere (-1) when not attached.
    private func echo(_ s: JSONLogWriter.Stream) -> Int32 {
        shown.contains(s) ? (s == .stdout ? 1 : 2) : -1
    }

    private func reapIfExited() -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return status }
        if r < 0 && errno == ECHILD { return 0 }
        return nil
    }

    private func handleSignal(_ sfd: Int32) {
        var info = signalfd_siginfo()
        let n = read(sfd, &info, MemoryLayout<signalfd_siginfo>.size)
        guard n == MemoryLayout<signalfd_siginfo>.size else { return }
        let sig = Int32(info.ssi_signo)
        switch sig {
        case SIGCHLD, SIGPIPE:
            break
        case SIGWINCH:
            if let m = master, let size = Self.terminalSize() {
                var ws = winsize(ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0)
                _ = ioctl(m, UInt(TIOCSWINSZ), &ws)
            }
        default:
            if proxySignals { kill(pid, sig) }
        }
    }

    private enum CopyResult { case data, empty, closed }

    /// Copies what the pty has to stdout; `.closed` once no process holds its slave (EIO).
    private func copyOut(buf: inout [UInt8]) -> CopyResult {
        guard let m = master else { return .closed }
        let r = read(m, &buf, buf.count)
        if r > 0 {
            if shown.contains(.stdout) { writeAll(1, buf, r) }
            log?.append(buf[0..<r], stream: .stdout)
            return .data
        }
        if r < 0 && (errno == EAGAIN || errno == EINTR) { return .empty }
        return .closed
    }

    private func writeAll(_ fd: Int32, _ buf: [UInt8], _ count: Int) {
        var off = 0
        while off < count {
            let w = buf.withUnsafeBytes { write(fd, $0.baseAddress! + off, count - off) }
            if w < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0); _ = poll(&p, 1, 100); continue }
                return
            }
            off += w
        }
    }

    private func makeRaw() {
        guard isatty(0) == 1 else { return }
        var t = termios()
        guard tcgetattr(0, &t) == 0 else { return }
        savedTermios = t
        cfmakeraw(&t)
        tcsetattr(0, TCSANOW, &t)
    }

    private func restoreTerminal() {
        if var t = savedTermios { tcsetattr(0, TCSANOW, &t); savedTermios = nil }
    }
}
