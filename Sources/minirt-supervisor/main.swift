// minirt-supervisor: the small process that stays with a detached container.
//
//   minirt-supervisor DIR MINIRT ID [stdin]
//
// It makes itself a child subreaper, runs `MINIRT __start ID` (which sets up the
// network and clones the container, then exits), and so becomes the parent of
// the container's init. Then it only: pumps the container's stdout and stderr (or,
// with -t, what its terminal shows: it holds the pty master)
// into DIR/container.log (Docker's json-file format), holds the published
// ports' sockets that __start passed it, reaps the init, and runs
// `MINIRT __exited ID STATUS` to tear down and record the exit (which answers
// whether the restart policy wants another start, which comes after docker's
// delay: 100 ms, doubled each time, at most a minute, and 100 ms again after a
// run of 10 s; SIGUSR1 cuts the wait short: stop and rm -f send it). A container with a health
// check has DIR/health.schedule; the supervisor then runs `MINIRT __health ID`
// on that schedule (one check at a time, the next one an interval after the
// last one ended, as docker does). `minirt attach` connects to DIR/attach (a
// unix socket, root's only): it gets the output as it comes, in docker's
// stdcopy frames (stream byte, three zeros, big-endian length), and what it
// sends goes to the container's stdin — a pipe the supervisor holds open
// (`stdin`: run -di) or the pty (-t).
//
// It uses Glibc only, no Foundation, to stay small: one runs per container.
// Readiness goes to fd 1 as one line ("ok", or "exit N" when __start failed,
// whose message went to fd 2); after that fds 0-2 are /dev/null.
import CMinirtShim
import MinirtLog
#if canImport(Glibc)
import Glibc
#endif

func say(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

final class Supervisor {
    let dir: String, minirt: String, id: String
    static let restartExit: Int32 = 75
    let sigfd: Int32
    let outRead: Int32, outWrite: Int32, errRead: Int32, errWrite: Int32
    let logWriter: JSONLogWriter
    var heldPorts: [Int32] = []
    /// run -di: the container's stdin pipe (its read end goes to each start as fd 6).
    var stdinRead: Int32 = -1, stdinWrite: Int32 = -1
    /// DIR/attach and the clients connected to it.
    var attachListener: Int32 = -1
    var attached: [Int32] = []
    /// With -t: the container's pty master (its output is the log's stdout).
    var console: Int32 = -1
    var reportedReady = false

    init(dir: String, minirt: String, id: String, stdin: Bool) {
        self.dir = dir; self.minirt = minirt; self.id = id
        // A daemon holds nothing it inherited beyond stdio: a stray descriptor of
        // whoever started `run -d` would keep their pipe open for the container's life.
        minirt_close_from(3)
        // Orphans in our subtree come to us: the container's init, once __start exits.
        _ = minirt_set_child_subreaper()
        signal(SIGPIPE, SIG_IGN)
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGCHLD)
        sigaddset(&blocked, SIGUSR1) // the end of a restart's wait (read from sigfd, as SIGCHLD)
        sigprocmask(SIG_BLOCK, &blocked, nil)
        sigfd = signalfd(-1, &blocked, Int32(SFD_CLOEXEC))
        var p: [Int32] = [0, 0]
        _ = minirt_pipe_cloexec(&p)
        (outRead, outWrite) = (p[0], p[1])
        _ = minirt_pipe_cloexec(&p)
        (errRead, errWrite) = (p[0], p[1])
        logWriter = Self.logWriter(dir: dir)
        _ = fcntl(outRead, F_SETFL, O_NONBLOCK)
        _ = fcntl(errRead, F_SETFL, O_NONBLOCK)
        if stdin {
            _ = minirt_pipe_cloexec(&p)
            (stdinRead, stdinWrite) = (p[0], p[1])
        }
    }

    // MARK: attach

    func listenForAttach() {
        let path = "\(dir)/attach"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let old = umask(0o177) // the socket is root's alone
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); return }
        attachListener = fd
    }

    func stopAttach() {
        for c in attached { close(c) }
        attached = []
        if attachListener >= 0 { close(attachListener); attachListener = -1; unlink("\(dir)/attach") }
    }

    func acceptClients() {
        while true {
            let c = accept(attachListener, nil, nil)
            if c < 0 { return }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            _ = fcntl(c, F_SETFL, O_NONBLOCK)
            attached.append(c)
        }
    }

    /// Output to every client, framed; a client that cannot keep up is let go.
    func broadcast(_ bytes: ArraySlice<UInt8>, stream: UInt8) {
        guard !attached.isEmpty, !bytes.isEmpty else { return }
        let n = UInt32(bytes.count)
        let frame = [stream, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
        attached.removeAll { c in
            var off = 0
            while off < frame.count {
                let w = frame[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { close(c); return true }
                off += w
            }
            return false
        }
    }

    /// What a client sends: the container's stdin (the pipe or the pty), or nowhere.
    func readClient(_ c: Int32) {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(c, &buf, buf.count, 0)
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n <= 0 {
            close(c)
            attached.removeAll { $0 == c }
            return
        }
        let target = console >= 0 ? console : stdinWrite
        if target >= 0 { JSONLogWriter.writeAll(target, buf[0..<n]) }
    }

    /// The log as DIR/log.options says (written at create for --log-driver and
    /// --log-opt): "MAXSIZE MAXFILES" to rotate, "none" for no log; absent: one file.
    static func logWriter(dir: String) -> JSONLogWriter {
        let path = "\(dir)/container.log"
        let fields = words("\(dir)/log.options")
        if fields.first == "none" { return JSONLogWriter(fd: -1) }
        guard fields.count == 2, let size = Int(fields[0]), let files = Int(fields[1]), size >= 0, files >= 1 else {
            return JSONLogWriter(path: path, rotation: .init())
        }
        return JSONLogWriter(path: path, rotation: .init(maxSize: size, maxFiles: files))
    }

    /// Spawns minirt; with passFDs, fds 3, 4, 5 = container stdout, stderr, port socket.
    func spawnMinirt(_ extra: [String], portSocket: Int32? = nil) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let portSocket {
            posix_spawn_file_actions_adddup2(&actions, outWrite, 3)
            posix_spawn_file_actions_adddup2(&actions, errWrite, 4)
            posix_spawn_file_actions_adddup2(&actions, portSocket, 5)
            if stdinRead >= 0 { posix_spawn_file_actions_adddup2(&actions, stdinRead, 6) }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = ([minirt] + extra).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        // minirt and the CNI plugins it runs need the environment (PATH, MINIRT_*).
        let rc = posix_spawn(&pid, minirt, &actions, &attr, argv, UnsafePointer(minirt_environ()))
        return rc == 0 ? pid : -1
    }

    // MARK: log pump

    /// Reads what the stream has into the log (one JSON line per line of output).
    func pump(_ fd: Int32, flush: Bool = false) {
        let stream: JSONLogWriter.Stream = fd == errRead ? .stderr : .stdout
        var buf = [UInt8](repeating: 0, count: 32768)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            logWriter.append(buf[0..<n], stream: stream)
            broadcast(buf[0..<n], stream: stream == .stderr ? 2 : 1)
        }
        if flush { logWriter.flush(stream) }
    }

    // MARK: the loop

    static func waitStatus(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let sig = status & 0x7f
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }

    /// A small file of the container's folder (minirt writes them: init.pid,
    /// health.schedule, log.options), or nil when absent or empty.
    static func readSmall(_ path: String) -> ArraySlice<UInt8>? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buf, buf.count)
        return n > 0 ? buf[0..<n] : nil
    }

    /// Its whitespace-separated words.
    static func words(_ path: String) -> [String] {
        readSmall(path)?.split { $0 == 0x20 || $0 == 0x0a }.map { String(decoding: $0, as: UTF8.self) } ?? []
    }

    func readInitPid() -> pid_t {
        pid_t(Self.words("\(dir)/init.pid").first ?? "") ?? 0
    }

    /// Start-up touched code and read-only data (the Swift runtime, libc, our own
    /// text) that the idle loop never needs again. Paging those clean, file-backed
    /// pages out (they stay in the page cache, shared with every other supervisor)
    /// keeps each supervisor's resident set to what it really uses.
    func releaseStartupPages() {
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            text += buf[0..<n]
        }
        close(fd)
        for line in text.split(separator: 0x0a) {
            let fields = line.split(separator: 0x20, omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].count == 4, fields[1][fields[1].startIndex + 1] != UInt8(ascii: "w"),
                  fields[5].first == UInt8(ascii: "/") else { continue }
            let range = fields[0].split(separator: UInt8(ascii: "-"))
            guard range.count == 2,
                  let lo = UInt(String(decoding: range[0], as: UTF8.self), radix: 16),
                  let hi = UInt(String(decoding: range[1], as: UTF8.self), radix: 16) else { continue }
            _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), Int(hi - lo), 21 /* MADV_PAGEOUT */)
        }
    }

    /// DIR/health.schedule: interval, start period, start interval (ms), or nil.
    func readHealthSchedule() -> (interval: Int64, startPeriod: Int64, startInterval: Int64)? {
        let fields = Self.words("\(dir)/health.schedule").compactMap { Int64($0) }
        guard fields.count == 3, fields.allSatisfy({ $0 >= 0 }), fields[0] > 0, fields[2] > 0 else { return nil }
        return (fields[0], fields[1], fields[2])
    }

    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    func detachStdio() {
        let null = open("/dev/null", O_RDWR)
        for fd in [Int32(0), 1, 2] { dup2(null, fd) }
        if null > 2 { close(null) }
    }

    /// The wait before a restart the policy asked for (moby's restart manager).
    var restartDelay: Int64 = 0

    /// Waits `ms` unless a SIGUSR1 comes first; children that exit meanwhile are reaped.
    func waitBeforeRestart(_ ms: Int64) {
        let deadline = Self.nowMilliseconds() + ms
        while true {
            let left = deadline - Self.nowMilliseconds()
            if left <= 0 { return }
            var p = pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(clamping: left)) > 0 else { continue }
            var info = signalfd_siginfo()
            _ = read(sigfd, &info, MemoryLayout<signalfd_siginfo>.size)
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
            if info.ssi_signo == UInt32(SIGUSR1) { return }
        }
    }

    func run() -> Never {
        while true {
            var socks: [Int32] = [-1, -1]
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &socks)
            let starter = spawnMinirt(["__start", id], portSocket: socks[1])
            close(socks[1])
            // Port sockets arrive while __start runs; its exit ends the stream.
            while true {
                let fd = minirt_recv_fd(socks[0])
                if fd < 0 { break }
                var st = stat()
                if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR {
                    console = fd
                    _ = fcntl(fd, F_SETFL, O_NONBLOCK)
                } else {
                    heldPorts.append(fd)
                }
            }
            close(socks[0])
            let startStatus = starter > 0 ? Self.waitStatus(starter) : 127 << 8
            if startStatus != 0 {
                if !reportedReady { say(1, "exit \(Self.exitCode(startStatus))\n") }
                exit(0)
            }
            // Before "ok": an attach right after run -d finds the socket.
            listenForAttach()
            if !reportedReady {
                say(1, "ok\n")
                detachStdio()
                reportedReady = true
            }
            releaseStartupPages()

            // __start left the init's pid; as a subreaper we also adopt other orphans
            // (a DNS server daemonizing), which are reaped and otherwise ignored.
            let initPid = readInitPid()
            var initStatus: Int32 = 0
            var running = initPid > 0
            let health = readHealthSchedule()
            let startedAt = Self.nowMilliseconds()
            func healthPeriod() -> Int64 {
                guard let health else { return 0 }
                return Self.nowMilliseconds() - startedAt < health.startPeriod ? health.startInterval : health.interval
            }
            var nextCheck = startedAt + healthPeriod()
            var checker: pid_t = 0
            while running {
                if health != nil && checker == 0 && Self.nowMilliseconds() >= nextCheck {
                    checker = spawnMinirt(["__health", id])
                    if checker < 0 { checker = 0; nextCheck = Self.nowMilliseconds() + healthPeriod() }
                }
                let timeout: Int32 = health == nil || checker != 0 ? -1 : Int32(clamping: max(0, nextCheck - Self.nowMilliseconds()))
                var fds = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: outRead, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: errRead, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: console, events: Int16(POLLIN), revents: 0), // -1 is ignored by poll
                           pollfd(fd: attachListener, events: Int16(POLLIN), revents: 0)]
                    + attached.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                if poll(&fds, nfds_t(fds.count), timeout) <= 0 { continue }
                if fds[4].revents != 0 { acceptClients() }
                for p in fds.dropFirst(5) where p.revents != 0 { readClient(p.fd) }
                if fds[1].revents != 0 { pump(outRead) }
                if fds[2].revents != 0 { pump(errRead) }
                if fds[3].revents != 0 {
                    pump(console)
                    // Every slave end closed (the container is exiting): stop polling it.
                    if fds[3].revents & Int16(POLLHUP | POLLERR) != 0 { pump(console, flush: true); close(console); console = -1 }
                }
                if fds[0].revents != 0 {
                    var info = signalfd_siginfo()
                    _ = read(sigfd, &info, MemoryLayout<signalfd_siginfo>.size)
                    var status: Int32 = 0
                    while true {
                        let pid = waitpid(-1, &status, WNOHANG)
                        if pid <= 0 { break }
                        if pid == initPid {
                            initStatus = status
                            running = false
                        } else if pid == checker {
                            checker = 0
                            nextCheck = Self.nowMilliseconds() + healthPeriod()
                        }
                    }
                }
            }
            pump(outRead, flush: true)
            pump(errRead, flush: true)
            if console >= 0 { pump(console, flush: true); close(console); console = -1 }
            stopAttach()
            heldPorts.forEach { close($0) }
            heldPorts = []

            let finisher = spawnMinirt(["__exited", id, String(initStatus)])
            if finisher < 0 || Self.exitCode(Self.waitStatus(finisher)) != Self.restartExit { exit(0) }
            // Recorded as restarting meanwhile; the next __start refuses if a stop came.
            if Self.nowMilliseconds() - startedAt >= 10_000 { restartDelay = 0 }
            restartDelay = restartDelay == 0 ? 100 : min(restartDelay * 2, 60_000)
            waitBeforeRestart(restartDelay)
        }
    }
}

let args = CommandLine.arguments
guard args.count == 4 || (args.count == 5 && args[4] == "stdin") else {
    say(2, "usage: minirt-supervisor DIR MINIRT ID [stdin]\n")
    exit(2)
}
Supervisor(dir: args[1], minirt: args[2], id: args[3], stdin: args.count == 5).run()
