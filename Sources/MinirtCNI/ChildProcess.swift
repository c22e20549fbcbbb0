import CMinirtShim
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What one program run returned.
public struct ChildOutput: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    /// Killed because it outlived `run`'s timeout (status 137).
    public var timedOut = false
}

/// Runs a program (a CNI plugin, iproute2) with posix_spawn (safe in a threaded process, unlike fork),
/// feeding stdin and collecting stdout and stderr without deadlocking on full pipes.
public enum ChildProcess {
    public struct SpawnFailure: Error { public var code: Int32 }

    /// posix_spawn with the given descriptors as stdin, stdout and stderr (others
    /// in `closing` are closed in the child). The child starts with no blocked
    /// signals and default handlers, whatever its parent blocked; with
    /// `newSession` it gets its own session (setsid).
    public static func spawn(_ path: String, arguments: [String], environment: [String],
                             stdio: (Int32, Int32, Int32), closing: [Int32] = [],
                             newSession: Bool = false, fd3: Int32? = nil) -> Result<pid_t, SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdio.0, 0)
        posix_spawn_file_actions_adddup2(&actions, stdio.1, 1)
        posix_spawn_file_actions_adddup2(&actions, stdio.2, 2)
        // (dup2 gives the child's copy no close-on-exec; the caller's fd must not be 3 itself.)
        if let fd3 { posix_spawn_file_actions_adddup2(&actions, fd3, 3) }
        for fd in Set(closing) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? 0x80 /* POSIX_SPAWN_SETSID */ : 0)))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        return rc == 0 ? .success(pid) : .failure(SpawnFailure(code: rc))
    }

    /// With `newSession`, the child gets its own session (setsid), so that it
    /// outlives the caller's terminal; with `waitForExit` false, output is read
    /// until the child closes its stdout and stderr and the child is left running
    /// (the supervisor of a detached container, which then lives on its own).
    /// With `timeout`, a child still running after that many seconds gets SIGKILL
    /// (status 137, and the reason appended to its stderr).
    /// Children left to finish on their own (see `doneWhen`), reaped without blocking later.
    static let unreaped = Mutex<[pid_t]>([])

    /// Reaps the children `run(doneWhen:)` left that have exited since.
    public static func reapFinished() {
        unreaped.withLock { pids in
            pids.removeAll { pid in
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                return r == pid || (r < 0 && errno == ECHILD)
            }
        }
    }

    /// `doneWhen`: a descriptor to watch besides the child's output, and a test
    /// run each time it is readable (given the child's pid): once it says the
    /// child's work is done, return status 0 without waiting for its exit; the
    /// child, given the descriptor as its fd 3 (so that the caller's close of it
    /// is only a reference dropped), is reaped later. nft's commit, seen by its
    /// notification, is such a point (HostFirewall.apply).
    /// With `stdoutFD` the child writes its output there (a stream to pass on, e.g. a tar), not to us;
    /// with `stdinFD` it reads that instead of `stdin`.
    public static func run(_ path: String, arguments: [String] = [], environment: [String], stdin: Data = Data(),
                           newSession: Bool = false, waitForExit: Bool = true, timeout: Double? = nil,
                           stdoutFD: Int32? = nil, stdinFD: Int32? = nil,
                           doneWhen: (fd: Int32, isDone: (pid_t) -> Bool)? = nil) throws -> ChildOutput {
        reapFinished()
        // Close-on-exec from the start: a child another thread spawns meanwhile must
        // not inherit these (a long-lived one, a supervisor, would hold our EOF).
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard minirt_pipe_cloexec(&inPipe) == 0, minirt_pipe_cloexec(&outPipe) == 0, minirt_pipe_cloexec(&errPipe) == 0 else {
            throw CNIError.exec(path, String(cString: strerror(errno)))
        }
        let spawned = spawn(path, arguments: arguments, environment: environment,
                            stdio: (stdinFD ?? inPipe[0], stdoutFD ?? outPipe[1], errPipe[1]), closing: inPipe + outPipe + errPipe,
                            newSession: newSession, fd3: doneWhen?.fd)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard case .success(let pid) = spawned else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            if case .failure(let rc) = spawned { throw CNIError.exec(path, String(cString: strerror(rc.code))) }
            fatalError("unreachable")
        }

        // A child that exits without reading its stdin (a hook) must not kill us with SIGPIPE.
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, oldPipe) }
        var out = Data(), err = Data()
        var toWrite = stdin
        var fds = [
            pollfd(fd: inPipe[1], events: Int16(POLLOUT), revents: 0),
            pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: doneWhen?.fd ?? -1, events: Int16(POLLIN), revents: 0),
        ]
        if toWrite.isEmpty { close(inPipe[1]); fds[0].fd = -1 }
        if stdoutFD != nil { close(outPipe[0]); fds[1].fd = -1 }
        var buf = [UInt8](repeating: 0, count: 65536)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + (timeout ?? 0)
        while fds[1].fd >= 0 || fds[2].fd >= 0 {
            var wait: Int32 = -1
            if timeout != nil {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
                if left <= 0 {
                    kill(pid, SIGKILL)
                    for i in 0...2 where fds[i].fd >= 0 { close(fds[i].fd); fds[i].fd = -1 }
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    err.append(contentsOf: Array("killed after its timeout of \(timeout!) s".utf8))
                    return ChildOutput(status: 137, stdout: out, stderr: err, timedOut: true)
                }
                wait = Int32(min(left * 1000, 1000)) + 1
            }
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 { if errno == EINTR { continue }; break }
            if ready == 0 { continue }
            if fds[3].fd >= 0 && fds[3].revents != 0, let w = doneWhen {
                if w.isDone(pid) {
                    for j in 0...2 where fds[j].fd >= 0 { close(fds[j].fd); fds[j].fd = -1 }
                    unreaped.withLock { $0.append(pid) }
                    return ChildOutput(status: 0, stdout: out, stderr: err)
                }
                if fds[3].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { fds[3].fd = -1 }
            }
            if fds[0].fd >= 0 && fds[0].revents != 0 {
                let n = toWrite.withUnsafeBytes { write(fds[0].fd, $0.baseAddress, $0.count) }
                if n > 0 { toWrite.removeFirst(n) }
                if n < 0 || toWrite.isEmpty { close(fds[0].fd); fds[0].fd = -1 }
            }
            for i in 1...2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &buf, buf.count)
                if n > 0 {
                    if i == 1 { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    close(fds[i].fd); fds[i].fd = -1
                }
            }
        }
        if fds[0].fd >= 0 { close(fds[0].fd) }
        guard waitForExit else { return ChildOutput(status: 0, stdout: out, stderr: err) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildOutput(status: code, stdout: out, stderr: err)
    }
}
