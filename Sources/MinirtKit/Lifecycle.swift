import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

public enum LifecycleError: Error, CustomStringConvertible, Equatable {
    case notRunning(String)
    case restarting(String)
    case alreadyRunning(String)
    case badRestartPolicy(String)
    case badSignal(String)
    case supervisor(String)
    case noLogs(String)
    case paused(String)
    case notPaused(String)

    public var description: String {
        switch self {
        case .notRunning(let n): return "container \(n) is not running: start it first (minirt start \(n))"
        case .restarting(let n): return "container \(n) is restarting: wait until it runs (its restart policy's delay), or stop it (minirt stop \(n))"
        case .alreadyRunning(let n): return "container \(n) is already running: stop it first, or use minirt restart \(n)"
        case .badRestartPolicy(let p):
            return "invalid restart policy \"\(p)\": use no, always, unless-stopped or on-failure[:MAX_RETRIES]"
        case .badSignal(let s): return "invalid signal \"\(s)\": give a name such as TERM, SIGKILL or a number"
        case .supervisor(let m): return "cannot start the container's supervisor: \(m)"
        case .noLogs(let n): return "no logs for container \(n): it has not run detached yet"
        case .paused(let n): return "container \(n) is already paused: minirt unpause \(n) resumes it"
        case .notPaused(let n): return "container \(n) is not paused"
        }
    }
}

/// Restart policies as Docker writes them.
public enum RestartPolicyParser {
    public static func parse(_ s: String) throws -> ContainerRecord.RestartPolicy {
        let parts = s.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts.first ?? "" {
        case "no" where parts.count == 1, "always" where parts.count == 1, "unless-stopped" where parts.count == 1:
            return .init(name: parts[0])
        case "on-failure":
            if parts.count == 1 { return .init(name: "on-failure") }
            guard let n = Int(parts[1]), n >= 0 else { throw LifecycleError.badRestartPolicy(s) }
            return .init(name: "on-failure", maximumRetryCount: n)
        default:
            throw LifecycleError.badRestartPolicy(s)
        }
    }
}

/// Signal names as `docker kill -s` and images' StopSignal write them.
public enum SignalName {
    static let table: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2,
        "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "CHLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP,
        "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ,
        "VTALRM": SIGVTALRM, "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
    ]

    public static func parse(_ s: String) throws -> Int32 {
        if let n = Int32(s), n > 0, n < 65 { return n }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        guard let sig = table[name] else { throw LifecycleError.badSignal(s) }
        return sig
    }
}

extension Containers {
    // MARK: run -d, start, and the supervisor's two callbacks

    /// `run -d`: creates the container and hands it to a new supervisor, which
    /// runs `minirt __start`. Returns once the container runs; a failure comes back
    /// with __start's own message and exit code, and leaves nothing behind.
    public func runDetached(_ o: RunOptions, restart: ContainerRecord.RestartPolicy, minirt: String, supervisor: String) throws -> String {
        var d = try decide(o)
        if restart.name != "no" && o.autoRemove {
            throw RunError.invalid("conflicting options: --restart \(restart.name) and --rm: a removed container cannot restart")
        }
        d.plan.record.state.detached = true
        d.plan.record.hostConfig.restartPolicy = restart
        let record = try materialize(d, generatedName: o.name == nil, cidfile: o.cidfile)
        do { try superviseStart(record, minirt: minirt, supervisor: supervisor) } catch {
            if let f = o.cidfile { unlink(f) }
            throw error
        }
        return record.id
    }

    /// `create`: the container made as `run -d` makes it (its folder, spec,
    /// name), not started: `minirt start` runs it under a supervisor.
    public func create(_ o: RunOptions, restart: ContainerRecord.RestartPolicy) throws -> String {
        var d = try decide(o)
        if restart.name != "no" && o.autoRemove {
            throw RunError.invalid("conflicting options: --restart \(restart.name) and --rm: a removed container cannot restart")
        }
        d.plan.record.state.detached = true
        d.plan.record.state.keptWhenStartFails = true
        d.plan.record.hostConfig.restartPolicy = restart
        return try materialize(d, generatedName: o.name == nil, cidfile: o.cidfile).id
    }

    /// `minirt start`: a stopped container runs again, under a new supervisor.
    /// One waiting to restart is left to its supervisor (docker's start changes
    /// nothing then); one whose supervisor is still on its way out (a stop woke
    /// it) waits for it to go, so two supervisors never start the same container.
    public func start(_ ref: String, minirt: String, supervisor: String) throws -> ContainerRecord {
        let r = try get(ref)
        guard r.state.status != .running else { throw LifecycleError.alreadyRunning(r.name) }
        if Self.isRestarting(r) { return r }
        if r.state.detached && r.state.supervisorPid > 0 {
            let old = ContainerProcess(pid: r.state.supervisorPid, startTime: r.state.supervisorStartTime)
            if old.isAlive && !old.waitForExit(seconds: 5) {
                throw LifecycleError.supervisor("the last supervisor of \(r.name) (pid \(r.state.supervisorPid)) is still running: try again")
            }
        }
        _ = try store.update(r.id) { $0.state.detached = true; $0.state.stoppedByUser = false }
        try superviseStart(try store.load(r.id), minirt: minirt, supervisor: supervisor)
        return try get(r.id)
    }

    /// Starts `minirt-supervisor` in its own session and waits for its one-line
    /// verdict; __start's error message (on the supervisor's stderr) is relayed.
    func superviseStart(_ r: ContainerRecord, minirt: String, supervisor: String) throws {
        guard access(supervisor, X_OK) == 0 else {
            throw LifecycleError.supervisor("\(supervisor) is missing: install it next to minirt")
        }
        var env = ProcessInfo.processInfo.environment
        env["MINIRT_ROOT"] = store.root
        env["MINIRT_IMAGES"] = images.root
        env["MINIRT_CNI_CONFIG"] = networks.configDir
        env["MINIRT_CNI_PATH"] = networks.cni.path.joined(separator: ":")
        // run -di: the supervisor holds the container's stdin open for attach.
        let stdin = r.config.openStdin && !r.config.tty ? ["stdin"] : []
        let out = try ChildProcess.run(supervisor, arguments: [store.directory(r.id), minirt, r.id] + stdin,
                                       environment: env.map { "\($0.key)=\($0.value)" }, newSession: true,
                                       waitForExit: false)
        let verdict = String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        if verdict == "ok" { return }
        let message = String(decoding: out.stderr, as: UTF8.self)
            .split(separator: "\n").map { $0.hasPrefix("minirt: ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "; ")
        let code = verdict.hasPrefix("exit ") ? Int32(verdict.dropFirst(5)) ?? 125 : 125
        throw ChildFailure(message: message.isEmpty ? "the supervisor failed (\(verdict))" : message, exitCode: code)
    }

    /// `minirt __start ID`, run by the supervisor: the host side and the process,
    /// with the container's stdout and stderr on fds 3 and 4 and the published
    /// ports' sockets sent over fd 5. On the first start a failure removes the
    /// container; on a later one it stays, exited, with the error.
    public func startDetached(_ id: String, stdout: Int32 = 3, stderr: Int32 = 4, portSocket: Int32 = 5, stdin: Int32 = 6) throws {
        // The supervisor's descriptors must reach the container only as its stdio, and
        // nothing else we start (a DNS server) may keep them: close-on-exec.
        for fd in [stdout, stderr, portSocket] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // fd 6, with run -di: the stdin pipe the supervisor holds for attach.
        let heldStdin = fcntl(stdin, F_SETFD, FD_CLOEXEC) == 0 ? stdin : -1
        // rm waits for this lock: it sees the container either not started or running.
        let startLock = store.startLockDescriptor(id)
        defer { if startLock >= 0 { close(startLock) } }
        var record = try store.load(id)
        let initial = record.state.startedAt.isZero
        // A restart the policy asked for, but `stop` came in between: stay stopped.
        if record.state.stoppedByUser { throw LifecycleError.notRunning(record.name) }
        do {
            guard let data = FileManager.default.contents(atPath: store.directory(id) + "/config.json") else {
                throw StateError.noSuchContainer(record.name)
            }
            var spec = try JSONDecoder().decode(OCISpec.self, from: data)
            let (list, choice) = try resolveNetwork(try NetworkMode(record.hostConfig.networkMode), id: id)
            if case .cni = choice, record.hostConfig.endpoints.isEmpty {
                // Disconnected from every network: a namespace of its own with lo only, as with none.
                let namespaces = spec.linux?.namespaces?.map { $0.type == "network" ? OCISpec.Namespace(type: "network") : $0 }
                spec.linux?.namespaces = namespaces
            }
            if case .container(_, let netns) = choice {
                // The joined container may have a new namespace since the spec was written.
                let namespaces = spec.linux?.namespaces?.map { $0.type == "network" ? OCISpec.Namespace(type: "network", path: netns) : $0 }
                spec.linux?.namespaces = namespaces
            }
            let reservation = try PortReservation(record.hostConfig.portBindings)
            defer { reservation.release() }
            record.hostConfig.portBindings = reservation.bindings
            let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { close(devNull) }
            // A detached pty has no terminal to follow: 24x80 unless config.json says otherwise.
            if spec.process?.terminal == true && spec.process?.consoleSize == nil {
                spec.process?.consoleSize = OCISpec.ConsoleSize(height: 24, width: 80)
            }
            let spawned = try launch(&record, spec: spec, list: list, choice: choice,
                                     io: SpawnIO(stdin: heldStdin >= 0 ? heldStdin : devNull, stdout: stdout, stderr: stderr), parentDeathSignal: 0)
            // The supervisor reaps this pid (it becomes the init's parent when we exit).
            try StateStore.writeAtomically(Data("\(spawned.pid)\n".utf8), to: store.directory(id) + "/init.pid")
            writeHealthSchedule(record)
            // With -t the pty master goes to the supervisor too (it tells it from the
            // port sockets by its type): it logs the terminal's output and holds it open.
            if let master = spawned.consoleMaster {
                Descriptors.send(master, over: portSocket)
                close(master)
            }
            for fd in reservation.fds { Descriptors.send(fd, over: portSocket) }
            record.state.supervisorPid = getppid()
            record.state.supervisorStartTime = ProcessIdentity.startTime(of: getppid()) ?? 0
            markRunning(&record, spawned)
            // A stop that came while this start was under way wins.
            if (try? store.load(id))?.state.stoppedByUser == true { Glibc.kill(spawned.pid, SIGKILL) }
        } catch {
            let remove = initial && record.state.keptWhenStartFails != true
            _ = try? release(record, ending: remove ? .remove() : .failed("\(error)"), force: remove)
            // docker's exit code for a start that failed: 127 not found, 126 not invocable, 125 the rest.
            if !remove { _ = try? store.update(id) { $0.state.exitCode = (error as? EngineError)?.exitCode ?? 125 } }
            throw error
        }
    }

    /// `minirt __exited ID STATUS`, run by the supervisor when the init exited:
    /// tear down, record, and answer whether the restart policy wants it again.
    public func finishDetached(_ id: String, waitStatus: Int32) -> Bool {
        guard let r = try? store.load(id) else { return false }
        let code = exitCode(fromWaitStatus: waitStatus)
        died(r, code: code)
        if r.hostConfig.autoRemove {
            _ = try? release(r, ending: .remove(), force: true)
            return false
        }
        // The decision is taken under the container's lock, against a stop that may race it.
        let after = try? release(r, ending: .exited(code: code) { c in
            let p = c.hostConfig.restartPolicy
            let wanted: Bool
            switch p.name {
            case "always", "unless-stopped": wanted = true
            case "on-failure": wanted = c.state.exitCode != 0 && (p.maximumRetryCount == 0 || c.state.restartCount < p.maximumRetryCount)
            default: wanted = false
            }
            if wanted && !c.state.stoppedByUser { c.state.restartCount += 1; c.state.restarting = true }
        }, force: false)
        // Only this supervisor counts restarts: a higher count is the policy's yes.
        return (after?.record?.state.restartCount ?? 0) > r.state.restartCount
    }

    // MARK: stop, kill, wait

    /// Sends the image's stop signal (SIGTERM by default), then SIGKILL after
    /// `timeout` seconds; returns once the exit is recorded.
    /// `timeout` nil: the container's --stop-timeout, or 10 s; -1 waits for ever.
    public func stop(_ ref: String, timeout given: Int?, signal override: String? = nil) throws {
        let current = try get(ref)
        let sig = try SignalName.parse(override ?? current.config.stopSignal ?? "SIGTERM")
        let timeout = given ?? current.config.stopTimeout ?? 10
        // Marked first, even between two restarts: no policy may start it again; and,
        // in the same write, no longer an endpoint of its services.
        var r = try markStoppedByUser(current, withdrawing: true)
        // Waiting to restart: it stays exited, and its supervisor stops waiting and goes.
        if Self.isRestarting(current) { endRestartWait(current) }
        guard r.state.status == .running else { return }
        services.withdraw(&r, recorded: current.network?.serving == true)
        signalInit(r, sig)
        if !waitExited(r, seconds: timeout < 0 ? .infinity : Double(timeout)) {
            signalInit(r, SIGKILL)
            _ = waitExited(r, seconds: 10)
        }
        emit("stop", r)
    }

    public func kill(_ ref: String, signal: String) throws {
        let sig = try SignalName.parse(signal)
        var r = try get(ref)
        guard r.state.status == .running else { throw Self.notRunning(r) }
        // A signal that ends it takes it out of its services first; a reload (SIGHUP) does not.
        let ending = Self.ends(r, sig)
        let serving = r.network?.serving == true
        if sig == SIGKILL || sig == SIGTERM {
            r = try markStoppedByUser(r, withdrawing: true)
            services.withdraw(&r, recorded: serving)
        } else if ending {
            services.withdraw(&r)
        }
        signalInit(r, sig)
    }

    /// Blocks until the container is not running; returns its exit code.
    public func wait(_ ref: String) throws -> Int32 {
        var r = try get(ref)
        // Waiting to restart counts as running, as docker's wait has it: the next exit ends the wait.
        while Self.isRestarting(r) {
            usleep(20_000)
            guard let now = try? get(r.id) else { return r.state.exitCode }
            r = now
        }
        _ = waitExited(r, seconds: .infinity)
        return (try? get(r.id).state.exitCode) ?? r.state.exitCode
    }

    func markStoppedByUser(_ r: ContainerRecord, withdrawing: Bool = false) throws -> ContainerRecord {
        (try store.update(r.id) { c in
            c.state.stoppedByUser = true
            c.state.restarting = nil
            if withdrawing && c.network?.serving == true { c.network?.serving = false }
        }) ?? r
    }

    /// Why a verb that needs a running container cannot act on this one.
    static func notRunning(_ r: ContainerRecord) -> LifecycleError {
        isRestarting(r) ? .restarting(r.name) : .notRunning(r.name)
    }

    /// docker's state word: created, running, paused, restarting, removing, exited, dead.
    /// `paused` when the caller has read the freezer already (one read a container).
    public static func stateName(_ r: ContainerRecord, paused: Bool? = nil) -> String {
        (paused ?? isPaused(r)) ? "paused" : isRestarting(r) ? "restarting" : r.state.status.rawValue
    }

    /// Exited and waiting for its supervisor to start it again (and that supervisor lives).
    public static func isRestarting(_ r: ContainerRecord) -> Bool {
        r.state.status == .exited && r.state.restarting == true && r.state.detached
            && ProcessIdentity.isAlive(pid: r.state.supervisorPid, startTime: r.state.supervisorStartTime)
    }

    /// Ends a supervisor's wait before a restart, once the record says stopped:
    /// its next __start refuses and it exits, which this waits for (bounded), so
    /// nothing it does can race a removal or a new supervisor.
    func endRestartWait(_ r: ContainerRecord) {
        let supervisor = ContainerProcess(pid: r.state.supervisorPid, startTime: r.state.supervisorStartTime)
        supervisor.signal(SIGUSR1)
        _ = supervisor.waitForExit(seconds: 5)
    }

    func signalInit(_ r: ContainerRecord, _ sig: Int32) {
        emit("kill", r, ["signal": String(sig)])
        ContainerProcess(pid: r.state.pid, startTime: r.state.pidStartTime).signal(sig)
        // A paused container is thawed to act on a signal that ends it (as docker's stop and kill do).
        if Self.ends(r, sig), let cg = Self.cgroup(of: r), cg.isFrozen() { try? cg.setFrozen(false) }
    }

    /// KILL, TERM, INT or the container's own stop signal: what stop and kill end it with.
    static func ends(_ r: ContainerRecord, _ sig: Int32) -> Bool {
        let stopSignal = (try? SignalName.parse(r.config.stopSignal ?? "SIGTERM")) ?? SIGTERM
        return [SIGKILL, SIGTERM, SIGINT, stopSignal].contains(sig)
    }

    // MARK: rename

    /// `minirt rename OLD NEW`: the store's name, and on its network the DNS
    /// names (NEW and NEW.<network> instead of OLD's); services that name it
    /// as a target follow the name.
    public func rename(_ ref: String, to name: String) throws {
        let r = try get(ref)
        guard r.name != name else {
            throw RunError.invalid("container \(r.name) already has the name \(name): give another")
        }
        let before = services.affected(by: r)
        try store.changeName(of: r.id, to: name)
        guard var renamed = try? store.load(r.id) else { return }
        for net in renamed.attachments where net.dnsRegistered && !net.ipAddress.isEmpty && !net.gateway.isEmpty {
            let dns = attacher.dns(for: net)
            let domain = attacher.clusterDomain(of: net.network)
            try? dns.register(network: net.network, gateway: net.gateway, id: renamed.id,
                              entry: .init(address: net.ipAddress, names: NetworkDNS.names(for: renamed, network: net.network, aliases: net.aliases,
                                                                                          address: net.ipAddress, clusterDomain: domain), address6: net.ipv6Address),
                              upstream: [], domain: domain)
        }
        emit("rename", renamed, ["oldName": r.name])
        renamed.network?.serving = r.network?.serving
        let after = services.affected(by: renamed)
        let touched = before + after.filter { a in !before.contains { $0.id == a.id } }
        if !touched.isEmpty { try? services.sync(touched) }
    }

    // MARK: pause

    /// `minirt pause`: freezes every process of the container (the cgroup
    /// freezer); it leaves its services first, as a frozen endpoint would hold
    /// the connections sent to it.
    public func pause(_ ref: String) throws {
        var r = try get(ref)
        guard r.state.status == .running, Self.isAlive(r) else { throw Self.notRunning(r) }
        guard let cg = Self.cgroup(of: r), cg.exists() else {
            throw RunError.invalid("container \(r.name) has no cgroup of its own to freeze")
        }
        guard !cg.isFrozen() else { throw LifecycleError.paused(r.name) }
        services.withdraw(&r)
        do { try cg.setFrozen(true) } catch {
            try? rejoin(r)
            throw RunError.invalid("cannot pause container \(r.name): \(error)")
        }
        emit("pause", r)
    }

    /// `minirt unpause`: thaws it and makes it an endpoint of its services again.
    public func unpause(_ ref: String) throws {
        let r = try get(ref)
        guard r.state.status == .running, let cg = Self.cgroup(of: r), cg.isFrozen() else { throw LifecycleError.notPaused(r.name) }
        do { try cg.setFrozen(false) } catch { throw RunError.invalid("cannot unpause container \(r.name): \(error)") }
        emit("unpause", r)
        try rejoin(r)
    }

    func rejoin(_ r: ContainerRecord) throws {
        guard r.network != nil, let updated = try store.update(r.id, { $0.network?.serving = true }) else { return }
        services.registerClient(updated)
        services.joined(updated)
    }

    /// Whether the container's processes are frozen (for ls and inspect).
    public static func isPaused(_ r: ContainerRecord) -> Bool {
        r.state.status == .running && (cgroup(of: r)?.isFrozen() ?? false)
    }

    /// Until the container's exit is recorded, or `seconds` pass. The init's
    /// pidfd says when it dies; the record follows once its supervisor (or its
    /// `minirt run`) has released it, a few ms without a network and about
    /// 100 ms through a bridge's DEL, so the store is read 1 ms after, then
    /// at doubling intervals up to 20 ms (a fixed 20 ms poll made `stop` of a
    /// prompt container 25 ms where 8 were needed).
    func waitExited(_ r: ContainerRecord, seconds: Double) -> Bool {
        let deadline = Timestamp.now().seconds + seconds
        let initProcess = ContainerProcess(pid: r.state.pid, startTime: r.state.pidStartTime)
        var pause: UInt32 = 1_000
        while Timestamp.now().seconds < deadline {
            guard let current = try? store.load(r.id) else { return true }
            if refreshed(current).state.status != .running { return true }
            if initProcess.isAlive {
                // In slices, so a record removed meanwhile (rm -f elsewhere) is noticed.
                _ = initProcess.waitForExit(seconds: min(deadline - Timestamp.now().seconds, 0.5))
                continue
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        return false
    }
}

/// A failure reported by a child minirt (the supervisor's __start), with its exit code.
public struct ChildFailure: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}

// MARK: exec

public struct ExecOptions: Sendable {
    public var command: [String]
    public var interactive = false
    public var tty = false
    public var env: [String] = []
    public var workdir: String?
    public var user: String?
    /// --env-file: KEY=VALUE lines, before -e.
    public var envFiles: [String] = []
    /// --privileged: every capability minirt holds, for this process only.
    public var privileged = false
    /// -d: started and left running; exec returns at once.
    public var detach = false
    public init(command: [String]) { self.command = command }
}

extension Containers {
    /// `minirt exec`: a process in all of a running container's namespaces, with
    /// the container's environment and confinement; returns its exit status.
    public func exec(_ ref: String, _ o: ExecOptions) throws -> Int32 {
        let r = try get(ref)
        guard r.state.status == .running, ProcessIdentity.isAlive(pid: r.state.pid, startTime: r.state.pidStartTime) else {
            throw Self.notRunning(r)
        }
        guard !o.command.isEmpty else { throw RunError.invalid("exec needs a command: minirt exec \(r.name) COMMAND [ARG...]") }
        let spec = try runningSpec(r)
        guard var process = spec.process else { throw StateError.noSuchContainer(r.name) }
        var extra: [String] = []
        for file in o.envFiles {
            guard let text = Self.read(file) else { throw RunError.unreadableEnvFile(file) }
            extra += try EnvParser.parseFile(text, host: ProcessInfo.processInfo.environment)
        }
        for item in o.env { if let v = try EnvParser.parse(item, host: ProcessInfo.processInfo.environment) { extra.append(v) } }
        if o.detach && (o.tty || o.interactive) {
            throw RunError.invalid("exec -d takes no -i or -t: a detached process has no terminal or stdin here")
        }
        process.env = EnvParser.merge(process.env ?? [], o.tty ? ["TERM=xterm"] : [], extra)
        process.args = o.command
        process.terminal = o.tty
        if let w = o.workdir {
            guard w.hasPrefix("/") else { throw RunError.invalid("the working directory \"\(w)\" is not absolute: give a path starting with /") }
            process.cwd = w
        }
        if let u = o.user { process.user = try UserLookup.resolve(u, root: "/proc/\(r.state.pid)/root") }
        if o.privileged {
            // docker's exec --privileged: every capability (of those minirt holds) for this process;
            // the container's seccomp filter and cgroup still apply.
            var caps = OCISpec.Capabilities()
            let all = Capabilities.held()
            caps.bounding = all; caps.effective = all; caps.permitted = all; caps.inheritable = all
            process.capabilities = caps
            process.noNewPrivileges = false
        }

        let devNull = o.interactive ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        SignalForwarding.block()
        // The same confinement as the init: capabilities and no_new_privs come with
        // the process, the seccomp filter and the cgroup from the container's spec.
        if o.tty, let size = ForegroundMonitor.terminalSize() {
            process.consoleSize = OCISpec.ConsoleSize(height: UInt32(size.rows), width: UInt32(size.cols))
        }
        // -d: nothing of ours for its stdio; it lives on in the container when exec returns.
        let io = o.detach ? SpawnIO(stdin: devNull, stdout: devNull, stderr: devNull) : SpawnIO(stdin: o.interactive ? 0 : devNull)
        let spawned = try Engine.exec(into: r.state.pid, process: process, io: io,
                                      cgroupsPath: spec.linux?.cgroupsPath, seccomp: spec.linux?.seccomp,
                                      seccompCache: seccompCache)
        let execID = StateStore.newID()
        emit("exec_start: " + o.command.joined(separator: " "), r, ["execID": execID])
        if o.detach { return 0 }
        let monitor = ForegroundMonitor(pid: spawned.pid, consoleMaster: spawned.consoleMaster, forwardStdin: o.interactive)
        let code = exitCode(fromWaitStatus: monitor.run())
        emit("exec_die", r, ["execID": execID, "exitCode": String(code)])
        return code
    }

    /// The spec a running container was started with (its process is what exec and health checks start from).
    func runningSpec(_ r: ContainerRecord) throws -> OCISpec {
        guard let data = FileManager.default.contents(atPath: store.directory(r.id) + "/config.json"),
              let spec = try? JSONDecoder().decode(OCISpec.self, from: data) else {
            throw StateError.noSuchContainer(r.name)
        }
        return spec
    }
}

/// `-u USER[:GROUP]`: numbers, or names from the rootfs's /etc/passwd and
/// /etc/group (read inside that root: see InRoot); supplementary groups are the
/// user's memberships plus --group-add. Every id is in docker's range.
public enum UserLookup {
    /// Docker's bound: ids are positive 32-bit signed integers (4294967295 is -1,
    /// "no change" to setresuid, which would keep root).
    public static let maxID: UInt32 = 2_147_483_647

    static func entries(_ file: String, root: String) throws -> [[String]] {
        let bytes = try InRoot.read(file, root: root) ?? []
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            .map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }

    /// A numeric id as given by the user, or nil when it is a name.
    static func number(_ s: String, kind: String) throws -> UInt32? {
        let digits = s.hasPrefix("-") ? String(s.dropFirst()) : s
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        guard !s.hasPrefix("-"), let n = UInt32(digits), n <= maxID else {
            throw RunError.invalid("\(kind)s must be in range 0-\(maxID): \"\(s)\" is not; give a \(kind) in that range or a name")
        }
        return n
    }

    /// An id read from the image's files: out of range is the image's fault.
    static func fileID(_ s: String, kind: String, file: String) throws -> UInt32 {
        guard let n = UInt32(s), n <= maxID else {
            throw RunError.invalid("the image's \(file) gives \(kind) \"\(s)\", outside 0-\(maxID): fix that entry or give a number")
        }
        return n
    }

    public static func resolve(_ spec: String, root: String, groupAdd: [String] = []) throws -> OCISpec.User {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let who = parts.first, !who.isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw RunError.invalid("invalid user \"\(spec)\": write USER[:GROUP]")
        }
        let passwd = try entries("/etc/passwd", root: root).filter { $0.count > 3 }
        let groups = try entries("/etc/group", root: root).filter { $0.count > 2 }
        var uid: UInt32, gid: UInt32
        var name: String?
        if let n = try number(who, kind: "uid") {
            uid = n
            // A number that names a user takes that user's group, as Docker does.
            let entry = passwd.first { $0[2] == who }
            gid = try entry.map { try fileID($0[3], kind: "gid", file: "/etc/passwd") } ?? n
            name = entry?[0]
        } else {
            guard let f = passwd.first(where: { $0[0] == who }) else {
                throw RunError.invalid("unable to find user \(who): no matching entry in the image's /etc/passwd; give a number or a user the image has")
            }
            uid = try fileID(f[2], kind: "uid", file: "/etc/passwd")
            gid = try fileID(f[3], kind: "gid", file: "/etc/passwd")
            name = who
        }
        func group(_ g: String) throws -> UInt32 {
            if let n = try number(g, kind: "gid") { return n }
            guard let f = groups.first(where: { $0[0] == g }) else {
                throw RunError.invalid("unable to find group \(g): no matching entry in the image's /etc/group; give a number or a group the image has")
            }
            return try fileID(f[2], kind: "gid", file: "/etc/group")
        }
        if parts.count > 1 { gid = try group(parts[1]) }
        var extra: [UInt32] = []
        if let name {
            for f in groups where f.count > 3 && f[3].split(separator: ",").contains(Substring(name)) {
                let n = try fileID(f[2], kind: "gid", file: "/etc/group")
                if n != gid, !extra.contains(n) { extra.append(n) }
            }
        }
        for g in groupAdd { let n = try group(g); if !extra.contains(n) { extra.append(n) } }
        return OCISpec.User(uid: uid, gid: gid, additionalGids: extra)
    }
}

// MARK: system prune and gc

extension Containers {
    /// Removes every container that is not running; returns their ids.
    public func prune() -> [String] {
        var removed: [String] = []
        for r in store.all().map(refreshed) where r.state.status != .running {
            var warnings: [String] = []
            if (try? remove(r.id, force: true, warnings: &warnings)) != nil { removed.append(r.id) }
        }
        return removed
    }

    /// Reconciles the store with the host after crashes; returns what it fixed.
    /// Only what this store owns is touched: attachments of containers whose
    /// process is gone, half-removed folders, stale names, leases and DNS
    /// entries of containers that no longer exist.
    public func gc() -> [String] {
        var fixed: [String] = []
        let records = store.all().map(refreshed)
        for r in records where r.state.status != .running && !r.attachments.isEmpty {
            // Keep the record (an exited container), release what it held.
            do {
                let report = try release(r, ending: .keep, force: true)
                fixed.append("released the network of \(r.name)" + report.warnings.map { " (\($0))" }.joined())
            } catch {
                fixed.append("could not release the network of \(r.name): \(error)")
            }
        }
        fixed += UserNamespacePool().collect()
        let fm = FileManager.default
        let entries = (try? fm.contentsOfDirectory(atPath: store.root)) ?? []
        for e in entries where e.hasPrefix(".trash-") {
            try? fm.removeItem(atPath: "\(store.root)/\(e)")
            fixed.append("removed half-removed folder \(e)")
        }
        let ids = Set(store.ids())
        // A container with no folder (deleted by hand, a crash mid-create) is
        // found by what it left; while its processes run, nothing of it is freed.
        // A pinned namespace with a fresh lease is a start under way, maybe in
        // another store that shares the network: it counts as alive for a minute.
        func starting(_ l: Leftovers) -> Bool { l.pin != nil && l.leases.contains { $0.age < 60 } }
        func aliveWithoutFolder(_ id: String) -> Bool { leftovers(of: id).map { $0.isAlive || starting($0) } == true }
        for name in (try? fm.contentsOfDirectory(atPath: store.root + "/.names")) ?? [] {
            let link = "\(store.root)/.names/\(name)"
            if let target = try? fm.destinationOfSymbolicLink(atPath: link), !ids.contains(target), !aliveWithoutFolder(target) {
                unlink(link)
                fixed.append("freed the name \(name)")
            }
        }
        // Folders whose state.json cannot be read: removed with what they hold once nothing runs.
        for id in store.broken() {
            guard let left = leftovers(of: id), !left.isAlive else {
                fixed.append("kept container \(id.prefix(12)): its state is unreadable but it still runs; minirt rm -f \(id.prefix(12)) removes it")
                continue
            }
            fixed.append("removed container \(id.prefix(12)), whose state was unreadable" + release(left).map { "; \($0)" }.joined())
        }
        // Leases whose owner has no folder: released with its rules and pin
        // (DEL from a record rebuilt from the lease), unless it still runs.
        for owner in Set(leases().map(\.owner)) where !ids.contains(owner) {
            guard let left = leftovers(of: owner) else { continue }
            if left.isAlive {
                fixed.append("kept container \(owner.prefix(12)): it has no state here but still runs; minirt rm -f \(owner.prefix(12)) removes it")
                continue
            }
            if starting(left) { continue }
            let warnings = release(left)
            fixed.append("released what container \(owner.prefix(12)) left (leases \(left.leases.map(\.address).joined(separator: ", ")))"
                         + warnings.map { "; \($0)" }.joined())
        }
        // The isolation plugin's rules of bridges that are gone (a network removed by hand).
        for bridge in Networks.staleIsolationBridges() {
            Networks.dropIsolationRules(bridge: bridge)
            fixed.append("dropped the isolation rules of the removed bridge \(bridge)")
        }
        let dnsRoots = networks.stateDirs(own: store.root).map { NetworkDNS(root: $0 + "/.dns") }
        for dns in dnsRoots {
            for net in (try? fm.contentsOfDirectory(atPath: dns.root)) ?? [] {
                guard let data = fm.contents(atPath: "\(dns.root)/\(net)/entries.json"),
                      let entries = try? JSONDecoder().decode([String: NetworkDNS.Entry].self, from: data) else { continue }
                // Entries of other stores sharing the network are alive through their processes.
                for id in entries.keys where !ids.contains(id) && !aliveWithoutFolder(id) {
                    dns.unregister(network: net, id: id)
                    fixed.append("dropped DNS names of \(id.prefix(12)) on \(net)")
                }
            }
        }
        // Cgroups: of this store's stopped containers, and empty ones no store
        // claims that are over a minute old (a crash between create and record).
        for r in records where r.state.status != .running {
            if let cg = Self.cgroup(of: r), cg.exists(), cg.remove() { fixed.append("removed the cgroup of \(r.name)") }
        }
        for dir in Cgroup(path: "/minirt").directories {
            for id in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where StateStore.isID(id) && !ids.contains(id) {
                let cg = Cgroup(path: "/minirt/\(id)")
                var st = stat()
                guard cg.processes().isEmpty, stat("\(dir)/\(id)", &st) == 0,
                      time(nil) - st.st_mtim.tv_sec > 60 else { continue }
                if cg.remove() { fixed.append("removed orphaned cgroup \(id.prefix(12))") }
            }
        }
        // Services rewritten from the records (endpoints of containers gone above are out).
        fixed += services.rebuild()
        // Balancer programs no current minirt keeps (an older layout's, or one half of a pair).
        fixed += SocketLB.detachStale().map { "detached the bpf program \($0)" }
        // enable_icc=false chains of bridges that no network has any more (nor the
        // host: another store's network; were it wrong, its next attach writes it again).
        let bridges = Set(networks.all().compactMap { Networks.bridgeDevice(of: $0.0) })
        for bridge in HostFirewall.interContainerDenied() where !bridges.contains(bridge) && access("/sys/class/net/\(bridge)", F_OK) != 0 {
            HostFirewall.allowInterContainer(bridge: bridge)
            fixed.append("removed the enable_icc=false rule of bridge \(bridge): its network is gone")
        }
        // minirt's own nft table, once no published port or service needs it.
        if HostFirewall.dropTableIfUnused() { fixed.append("removed the table \(HostFirewall.family) \(HostFirewall.table): no port is published and no service defined") }
        // A server started for a container whose ADD never finished (a crash).
        for dns in dnsRoots {
            for net in (try? fm.contentsOfDirectory(atPath: dns.root)) ?? [] { dns.stopIfUnused(network: net) }
        }
        return fixed
    }
}

// MARK: update

extension Containers {
    /// `minirt update`: new limits (and restart policy) for a container; a
    /// running one gets them in its cgroup at once, and its config.json keeps
    /// them for the next start. Returns the record as saved.
    @discardableResult
    public func update(_ ref: String, limits o: ConfinementOptions, restart: String?) throws -> ContainerRecord {
        let r = try get(ref)
        var security = r.hostConfig.security ?? ContainerRecord.Security()
        var resources = OCISpec.Resources()
        try Confinement.limits(o, into: &resources, security: &security)
        let policy = try restart.map(RestartPolicyParser.parse)
        if policy != nil && policy?.name != "no" && r.hostConfig.autoRemove {
            throw RunError.invalid("conflicting options: --restart and --rm: a removed container cannot restart")
        }
        if r.state.status == .running, let cg = Self.cgroup(of: r) {
            do { try cg.update(resources) } catch { throw RunError.invalid("cannot update container \(r.name): \(error)") }
        }
        let path = store.directory(r.id) + "/config.json"
        if let data = FileManager.default.contents(atPath: path), var spec = try? JSONDecoder().decode(OCISpec.self, from: data) {
            var current = spec.linux?.resources ?? OCISpec.Resources()
            if let m = resources.memory { current.memory = m }
            if let c = resources.cpu {
                var cpu = current.cpu ?? OCISpec.CPU()
                if let s = c.shares { cpu.shares = s }
                if let q = c.quota { cpu.quota = q; cpu.period = c.period }
                current.cpu = cpu
            }
            if let p = resources.pids { current.pids = p }
            spec.linux?.resources = current
            try writeSpec(spec, id: r.id)
        }
        return try store.update(r.id) { c in
            c.hostConfig.security = security
            if let policy { c.hostConfig.restartPolicy = policy }
        } ?? r
    }
}

// MARK: top

extension Containers {
    /// `minirt top C [ps OPTIONS]`, as docker does it: the host's `ps` (default
    /// `-ef`), keeping the rows whose PID is one of the container's processes
    /// (its cgroup's, or the init alone without a cgroup of its own).
    public func top(_ ref: String, psArguments: [String]) throws -> String {
        let r = try get(ref)
        guard r.state.status == .running, Self.isAlive(r) else { throw Self.notRunning(r) }
        for a in psArguments where !Validate.isToken(a) {
            throw RunError.invalid("invalid ps option \"\(Validate.printable(a))\": one word per option, such as -o pid,comm")
        }
        var pids = Set(Self.cgroup(of: r)?.processes() ?? [])
        if pids.isEmpty { pids = [r.state.pid] }
        let candidates: [String] = ["/usr/bin/ps", "/bin/ps"]
        guard let ps = candidates.first(where: { access($0, X_OK) == 0 }) else { throw RunError.invalid("ps is missing: minirt top runs the host's ps; install procps") }
        let out = try ChildProcess.run(ps, arguments: psArguments.isEmpty ? ["-ef"] : psArguments,
                                       environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"])
        let lines = String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        guard out.status == 0, let header = lines.first else {
            throw RunError.invalid("ps \(psArguments.joined(separator: " ")) failed: \(String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").first ?? "")")
        }
        guard let column = header.split(separator: " ").firstIndex(of: "PID") else {
            throw RunError.invalid("couldn't find the PID field in ps's output: add pid to the ps options (-o pid,...)")
        }
        let rows = lines.dropFirst().filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > column && Int32(fields[column]).map(pids.contains) == true
        }
        return ([header] + rows).joined(separator: "\n") + "\n"
    }
}
