import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's health checks, run without a daemon: the container's supervisor
/// keeps the schedule (`health.schedule` in the container's folder, written at
/// each start) and runs `minirt __health ID` at each tick; this runs the check
/// in the container (as exec does: its namespaces, user, environment, seccomp
/// filter and cgroup) and records the result in State.Health.
extension Containers {
    /// The supervisor's schedule, in milliseconds: interval, start period,
    /// start interval. Plain numbers, so the Glibc-only supervisor reads it
    /// without a JSON parser; absent when the container has no check.
    func writeHealthSchedule(_ r: ContainerRecord) {
        let path = store.directory(r.id) + "/health.schedule"
        guard let h = r.config.healthcheck, h.isActive else { unlink(path); return }
        let text = "\(h.interval / 1_000_000) \(h.startPeriod / 1_000_000) \(h.startInterval / 1_000_000)\n"
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// One check of a running container; returns its new status when it changed.
    @discardableResult
    public func runHealthCheck(_ id: String) throws -> String? {
        let r = try store.load(id)
        guard r.state.status == .running, let check = r.config.healthcheck, check.isActive,
              ProcessIdentity.isAlive(pid: r.state.pid, startTime: r.state.pidStartTime) else { return nil }
        let start = Timestamp.now()
        let (code, output) = captured(r, command: check.command, timeout: check.timeout)
        let result = Health.Result(start: start, end: .now(), exitCode: code, output: output)
        let inStartPeriod = start.nanoseconds - r.state.startedAt.nanoseconds < check.startPeriod
        var changed: String?
        _ = try store.update(id) { c in
            // A restart since the check began starts its health over: this result is not its.
            guard c.state.status == .running, c.state.startedAt == r.state.startedAt else { return }
            var h = c.state.health ?? Health()
            if h.record(result, retries: check.retries, inStartPeriod: inStartPeriod) { changed = h.status }
            c.state.health = h
        }
        if let changed { emit("health_status: \(changed)", r) }
        return changed
    }

    /// Runs a command in the container with no stdin and returns its exit code
    /// and first 4 KiB of output (stdout and stderr together, as docker keeps
    /// them); -1 when it could not start or outlived the timeout (then killed).
    func captured(_ r: ContainerRecord, command: [String], timeout: Int64) -> (Int32, String) {
        guard let spec = try? runningSpec(r), var process = spec.process else { return (-1, "cannot read the container's spec") }
        process.args = command
        process.terminal = false
        guard let (readEnd, writeEnd) = Descriptors.pipe() else { return (-1, "pipe: \(String(cString: strerror(errno)))") }
        let pipe = [readEnd, writeEnd]
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) }; close(pipe[0]) }
        let spawned: SpawnedProcess
        do {
            spawned = try Engine.exec(into: r.state.pid, process: process, io: SpawnIO(stdin: devNull, stdout: pipe[1], stderr: pipe[1]),
                                      cgroupsPath: spec.linux?.cgroupsPath, seccomp: spec.linux?.seccomp, seccompCache: seccompCache)
        } catch {
            close(pipe[1])
            return (-1, "\(error)")
        }
        close(pipe[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Timestamp.now().nanoseconds + timeout
        var timedOut = false
        while true {
            let left = deadline - Timestamp.now().nanoseconds
            if left <= 0 { timedOut = true; break }
            var p = pollfd(fd: pipe[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left / 1_000_000 + 1, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let n = Glibc.read(pipe[0], &buffer, buffer.count)
            if n <= 0 { break } // EOF: every writer (the check and what it started) is done
            if output.count < Health.maxOutput { output += buffer[0..<min(n, Health.maxOutput - output.count)] }
        }
        if timedOut { Glibc.kill(spawned.pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(spawned.pid, &status, 0) < 0 && errno == EINTR {}
        if timedOut { return (-1, "Health check exceeded timeout (\(GoDuration.format(timeout)))") }
        return (exitCode(fromWaitStatus: status), String(decoding: output, as: UTF8.self))
    }
}

/// The foreground runner's health schedule (minirt-supervisor keeps the same
/// for detached containers): `minirt __health ID` one at a time, the next an
/// interval (a start interval during the start period) after the last ended.
final class HealthTicker {
    let check: HealthConfig, id: String, root: String
    let startedAt = HealthTicker.now()
    var next: Int64
    var checker: pid_t = 0

    init(check: HealthConfig, id: String, root: String) {
        self.check = check; self.id = id; self.root = root
        next = startedAt
        next = startedAt + period()
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    func period() -> Int64 {
        (Self.now() - startedAt < check.startPeriod / 1_000_000 ? check.startInterval : check.interval) / 1_000_000
    }

    func tick() -> Int32 {
        let now = Self.now()
        if checker != 0 {
            var status: Int32 = 0
            guard waitpid(checker, &status, WNOHANG) == checker else { return 100 }
            checker = 0
            next = now + period()
        }
        if now >= next {
            guard let minirt = try? SealedExecutable.currentPath() else { next = now + period(); return Int32(clamping: period()) }
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer { close(null) }
            if case .success(let pid) = ChildProcess.spawn(minirt, arguments: ["--root", root, "__health", id],
                                                          environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], stdio: (null, null, null)) {
                checker = pid
                return 100
            }
            next = now + period()
        }
        return Int32(clamping: max(1, next - now))
    }
}
