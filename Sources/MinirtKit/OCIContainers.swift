import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// runc's errors, worded as runc 1.1.5 prints them: engines match on the text.
public struct OCIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
    static let notExist = OCIError("container does not exist")
    static let notRunning = OCIError("container not running")
}

/// One container of the runc-style command line: what `state` prints and what
/// `start`, `kill` and `delete` need. Kept under the OCI root (default
/// /run/minirt-runc), apart from minirt's own store, so `minirt ls` never lists
/// the containers engines own.
public struct OCIContainer: Codable, Sendable {
    public var id: String
    public var bundle: String
    public var rootfs: String
    public var pid: Int32
    public var pidStartTime: UInt64
    public var created: String
    public var annotations: [String: String]?
    public var cgroupsPath: String?
    /// Kept from create: delete runs them even if the bundle changed meanwhile.
    public var poststop: [OCISpec.Hook]?
}

/// The runtime-spec state (runc state's JSON).
public struct OCIState: Codable, Sendable {
    public var ociVersion: String
    public var id: String
    public var status: String
    public var pid: Int32
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var annotations: [String: String]?
    public var owner: String
}

/// runc's lifecycle over OCI bundles: create leaves the init blocked right
/// before execve (at the engine's start gate, a FIFO in the container's
/// folder), start releases it, kill signals it, delete releases what it holds.
public struct OCIContainers: Sendable {
    public static let defaultRoot = "/run/minirt-runc"
    public let root: String

    public init(root: String) { self.root = root }

    func directory(_ id: String) -> String { "\(root)/\(id)" }
    func statePath(_ id: String) -> String { directory(id) + "/state.json" }
    func gatePath(_ id: String) -> String { directory(id) + "/exec.fifo" }

    /// runc's rule for ids: letters, digits and `_+-.`, not `.` or `..`.
    static func checkID(_ id: String) throws {
        guard !id.isEmpty, id != ".", id != "..", id.utf8.count <= 1024,
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_+-.".contains($0)) }) else {
            throw OCIError("invalid container id format: \(Validate.printable(id))")
        }
    }

    public func load(_ id: String) throws -> OCIContainer {
        try Self.checkID(id)
        guard let data = FileManager.default.contents(atPath: statePath(id)) else { throw OCIError.notExist }
        do { return try JSONDecoder().decode(OCIContainer.self, from: data) } catch {
            throw OCIError("the state of container \(id) is unreadable (\(statePath(id))): delete it with --force")
        }
    }

    public func status(_ c: OCIContainer) -> String {
        guard ProcessIdentity.isAlive(pid: c.pid, startTime: c.pidStartTime) else { return "stopped" }
        if access(gatePath(c.id), F_OK) == 0 { return "created" }
        if let path = c.cgroupsPath, Cgroup(path: path).isFrozen() { return "paused" }
        return "running"
    }

    public func state(_ id: String) throws -> OCIState {
        let c = try load(id)
        let s = status(c)
        return OCIState(ociVersion: "1.0.2", id: c.id, status: s, pid: s == "stopped" ? 0 : c.pid, bundle: c.bundle,
                        rootfs: c.rootfs, created: c.created, annotations: c.annotations, owner: "")
    }

    public func list() -> [OCIState] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return ids.sorted().compactMap { try? state($0) }
    }

    /// Reads and checks the bundle's config.json (errors name the file and the reason).
    public static func spec(bundle: String) throws -> OCISpec {
        let path = bundle + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OCIError("JSON specification file config.json not found in \(bundle): give the bundle's folder with --bundle")
        }
        let spec: OCISpec
        do { spec = try JSONDecoder().decode(OCISpec.self, from: data) } catch {
            throw OCIError("\(path): \((error as? DecodingError).map(SeccompProfile.describe) ?? "\(error)")")
        }
        if let cg = spec.linux?.cgroupsPath, cg.split(separator: "/").contains("..") {
            throw OCIError("\(path): linux.cgroupsPath \"\(cg)\" leaves the cgroup hierarchy with \"..\": give a path without it")
        }
        return spec
    }

    public struct CreateOptions: Sendable {
        public var bundle: String
        public var pidFile: String?
        public var consoleSocket: String?
        public var preserveFds = 0
        public init(bundle: String) { self.bundle = bundle }
    }

    /// `create`: the init set up and blocked at the gate; returns its pid, and
    /// the pty master when it has a terminal and no console socket was given
    /// (only `run` in the foreground allows that: it copies the terminal itself).
    @discardableResult
    public func create(_ id: String, _ o: CreateOptions, seccompCache: String? = nil,
                       keepConsole: Bool = false) throws -> (pid: Int32, console: Int32?) {
        try Self.checkID(id)
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard realpath(o.bundle, &resolved) != nil else {
            throw OCIError("bundle \(o.bundle): \(String(cString: strerror(errno)))")
        }
        let bundle = String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var spec = try Self.spec(bundle: bundle)
        if (spec.linux?.cgroupsPath ?? "").isEmpty {
            // As runc's cgroupfs driver: a cgroup named after the container (pause, ps and kill --all need one).
            if spec.linux == nil { spec.linux = OCISpec.Linux() }
            spec.linux?.cgroupsPath = "/\(id)"
        }
        if spec.process?.terminal == true && o.consoleSocket == nil && !keepConsole {
            throw OCIError("cannot allocate tty if runc will detach without setting console socket")
        }
        try StateStore.makeDirectory(root, mode: 0o711)
        guard mkdir(directory(id), 0o711) == 0 else {
            if errno == EEXIST { throw OCIError("container with id exists: \(id)") }
            throw OCIError("mkdir \(directory(id)): \(String(cString: strerror(errno)))")
        }
        var spawnedPid: Int32?
        do {
            guard mkfifo(gatePath(id), 0o600) == 0 else { throw OCIError("mkfifo \(gatePath(id)): \(String(cString: strerror(errno)))") }
            // Read and write: the init's read never sees EOF while it holds this end too.
            let gate = open(gatePath(id), O_RDWR | O_CLOEXEC)
            guard gate >= 0 else { throw OCIError("open \(gatePath(id)): \(String(cString: strerror(errno)))") }
            defer { close(gate) }
            // prestart and createRuntime: in the runtime's namespaces, once the
            // container's exist and before its root is set up (its pid in the state).
            // createContainer and startContainer run in the container (the shim runs
            // them), with the pid as it sees it, as runc gives it.
            let setupHooks = (spec.hooks?.prestart ?? []) + (spec.hooks?.createRuntime ?? [])
            let insideHooks = !(spec.hooks?.createContainer ?? []).isEmpty || !(spec.hooks?.startContainer ?? []).isEmpty
            let spawned = try Engine.spawn(spec, bundle: bundle,
                                           options: SpawnOptions(startGate: gate, preserveFds: o.preserveFds, seccompCache: seccompCache),
                                           beforeSetup: setupHooks.isEmpty && !insideHooks ? nil : { pid in
                                               var state = OCIState(ociVersion: "1.0.2", id: id, status: "creating", pid: pid, bundle: bundle,
                                                                    rootfs: "", created: "", annotations: spec.annotations, owner: "")
                                               try Self.runHooks(setupHooks, kind: "createRuntime", state: state)
                                               guard insideHooks else { return ContainerHookStates() }
                                               state.pid = ProcessIdentity.pidInOwnNamespace(pid) ?? pid
                                               let create = try Self.hookInput(state)
                                               state.status = "created"
                                               return ContainerHookStates(createContainer: create, startContainer: try Self.hookInput(state))
                                           })
            spawnedPid = spawned.pid
            if let listener = spawned.seccompListener {
                try Self.sendSeccompListener(listener, spec: spec, state: OCIState(
                    ociVersion: "1.0.2", id: id, status: "creating", pid: spawned.pid, bundle: bundle,
                    rootfs: spec.root.map { $0.path.hasPrefix("/") ? $0.path : "\(bundle)/\($0.path)" } ?? "",
                    created: Timestamp.now().rfc3339, annotations: spec.annotations, owner: ""))
            }
            let kept = try Self.handOver(spawned.consoleMaster, to: o.consoleSocket)
            let root = spec.root.map { $0.path.hasPrefix("/") ? $0.path : "\(bundle)/\($0.path)" } ?? ""
            let c = OCIContainer(id: id, bundle: bundle, rootfs: root, pid: spawned.pid,
                                 pidStartTime: ProcessIdentity.startTime(of: spawned.pid) ?? 0,
                                 created: Timestamp.now().rfc3339, annotations: spec.annotations,
                                 cgroupsPath: spec.linux?.cgroupsPath, poststop: spec.hooks?.poststop)
            try StateStore.writeAtomically(try JSONEncoder().encode(c), to: statePath(id))
            if let pidFile = o.pidFile {
                // No trailing newline: containerd parses the file strictly.
                try StateStore.writeAtomically(Data("\(spawned.pid)".utf8), to: pidFile)
            }
            // poststart at the end of create, as runc 1.1.5 runs them (the spec says
            // after start; engines are built against runc). A failure undoes the create.
            if let hooks = spec.hooks?.poststart, !hooks.isEmpty { try Self.runHooks(hooks, kind: "poststart", state: try state(id)) }
            return (spawned.pid, kept)
        } catch {
            // Nothing of a failed create stays: the blocked init, its cgroup, its folder.
            if let pid = spawnedPid {
                Glibc.kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            if let path = spec.linux?.cgroupsPath, !path.isEmpty, spawnedPid != nil { Cgroup(path: path).remove() }
            try? FileManager.default.removeItem(atPath: directory(id))
            throw error
        }
    }

    static func hookInput(_ state: OCIState) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(state))
    }

    /// Runs hooks in order with the state JSON on stdin; the first failure (exit
    /// status, or its timeout) is the error.
    static func runHooks(_ hooks: [OCISpec.Hook], kind: String, state: OCIState) throws {
        let input = Data(try hookInput(state))
        for (i, hook) in hooks.enumerated() {
            guard hook.path.hasPrefix("/") else { throw OCIError("error running \(kind) hook #\(i): the path \(hook.path) is not absolute") }
            if let t = hook.timeout, t <= 0 { throw OCIError("error running \(kind) hook #\(i): timeout must be above 0") }
            let out: ChildOutput
            do {
                out = try ChildProcess.run(hook.path, arguments: Array((hook.args ?? [hook.path]).dropFirst()), environment: hook.env ?? [],
                                           stdin: input, timeout: hook.timeout.map(Double.init))
            } catch { throw OCIError("error running \(kind) hook #\(i): \(error)") }
            guard out.status == 0 else {
                let why = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").last.map { ", stderr: \($0)" } ?? ""
                throw OCIError("error running \(kind) hook #\(i): \(hook.path) exited with status \(out.status)\(why)")
            }
        }
    }

    /// The pty master goes to the console socket when one was given (and is
    /// closed here); otherwise the caller keeps it (run/exec in the foreground).
    static func handOver(_ master: Int32?, to socket: String?) throws -> Int32? {
        guard let master else { return nil }
        guard let socket else { return master }
        defer { close(master) }
        try sendConsole(master, to: socket)
        return nil
    }

    static func sendConsole(_ master: Int32, to path: String) throws {
        let fd = try connectUnix(path, what: "the console socket")
        defer { close(fd) }
        guard Descriptors.send(master, over: fd) else { throw OCIError("send the pty master to \(path): \(String(cString: strerror(errno)))") }
    }

    /// What a seccomp agent is sent with the listener (runc's ContainerProcessState).
    struct SeccompAgentMessage: Encodable {
        var ociVersion = "1.0.2"
        var fds = ["seccompFd"]
        var pid: Int32
        var metadata: String
        var state: OCIState
    }

    /// Hands the seccomp listener (SCMP_ACT_NOTIFY) to the agent at
    /// linux.seccomp.listenerPath with the container's state, then closes it here.
    public static func sendSeccompListener(_ listener: Int32, spec: OCISpec, state: OCIState) throws {
        defer { close(listener) }
        let path = spec.linux?.seccomp?.listenerPath ?? ""
        let fd = try connectUnix(path, what: "the seccomp agent")
        defer { close(fd) }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Array(try e.encode(SeccompAgentMessage(pid: state.pid, metadata: spec.linux?.seccomp?.listenerMetadata ?? "", state: state)))
        guard Descriptors.send(listener, over: fd, payload: body) else {
            throw OCIError("send the seccomp listener to \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func connectUnix(_ path: String, what: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw OCIError("\(what): \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw OCIError("\(what): the socket path \"\(path)\" is empty or too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw OCIError("connect to \(what) \(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    /// `start`: the blocked init goes on to execve.
    public func start(_ id: String) throws {
        let c = try load(id)
        switch status(c) {
        case "created": break
        case "stopped": throw OCIError("cannot start a container that has stopped")
        default: throw OCIError("cannot start an already running container")
        }
        let fd = open(gatePath(id), O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw OCIError("cannot start an already running container") }
        var one: UInt8 = 0
        let w = write(fd, &one, 1)
        close(fd)
        guard w == 1 else { throw OCIError("start \(id): \(String(cString: strerror(errno)))") }
        unlink(gatePath(id))
    }

    /// `update`: new limits for a live container's cgroup.
    public func update(_ id: String, _ r: OCISpec.Resources) throws {
        let c = try load(id)
        guard status(c) != "stopped" else { throw OCIError.notRunning }
        guard let path = c.cgroupsPath, !path.isEmpty else {
            throw OCIError("container \(id) has no cgroup (linux.cgroupsPath is empty): nothing to update")
        }
        do { try Cgroup(path: path).update(r) } catch { throw OCIError("\(error)") }
    }

    /// `pause` / `resume`: the freezer of the container's cgroup.
    public func setPaused(_ id: String, _ paused: Bool) throws {
        let c = try load(id)
        guard status(c) != "stopped" else { throw OCIError.notRunning }
        guard let path = c.cgroupsPath, !path.isEmpty else {
            throw OCIError("container \(id) has no cgroup (linux.cgroupsPath is empty): it cannot be \(paused ? "paused" : "resumed")")
        }
        do { try Cgroup(path: path).setFrozen(paused) } catch { throw OCIError("\(error)") }
    }

    public struct ExecOptions: Sendable {
        public var process: OCISpec.Process
        public var consoleSocket: String?
        public var pidFile: String?
        public var detach = false
        public var preserveFds = 0
        public init(process: OCISpec.Process) { self.process = process }
    }

    /// `exec`: a process in the running container's namespaces, cgroup and
    /// seccomp filter (from its bundle), with the given process's user,
    /// capabilities and no_new_privs. Returns its pid and, unless detached or
    /// handed to a console socket, the pty master.
    public func exec(_ id: String, _ o: ExecOptions, seccompCache: String? = nil) throws -> (pid: Int32, console: Int32?) {
        let c = try load(id)
        guard status(c) == "running" else { throw OCIError("cannot exec in a stopped container") }
        guard !o.process.args.isEmpty else { throw OCIError("args must not be empty") }
        if o.process.terminal == true && o.detach && o.consoleSocket == nil {
            throw OCIError("cannot allocate tty if runc will detach without setting console socket")
        }
        let spec = try Self.spec(bundle: c.bundle)
        let spawned = try Engine.exec(into: c.pid, process: o.process, io: SpawnIO(),
                                      cgroupsPath: c.cgroupsPath, seccomp: spec.linux?.seccomp,
                                      seccompCache: seccompCache, preserveFds: o.preserveFds)
        let kept = try Self.handOver(spawned.consoleMaster, to: o.consoleSocket)
        if let pidFile = o.pidFile { try StateStore.writeAtomically(Data("\(spawned.pid)".utf8), to: pidFile) }
        return (spawned.pid, kept)
    }

    /// The host pids of the container's processes: its cgroup's, or its init alone.
    public func processes(_ id: String) throws -> [Int32] {
        let c = try load(id)
        guard status(c) != "stopped" else { return [] }
        if let path = c.cgroupsPath, !path.isEmpty { return Cgroup(path: path).processes() }
        return [c.pid]
    }

    public static func commandLine(of pid: Int32) -> String {
        let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
        return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// `kill [--all] ID SIGNAL`.
    public func kill(_ id: String, signal: Int32, all: Bool) throws {
        let c = try load(id)
        let s = status(c)
        if all, let path = c.cgroupsPath, !path.isEmpty {
            for pid in Cgroup(path: path).processes() { Glibc.kill(pid, signal) }
            return
        }
        guard s != "stopped" else {
            if all { return }
            throw OCIError.notRunning
        }
        guard ContainerProcess(pid: c.pid, startTime: c.pidStartTime).signal(signal) else { throw OCIError.notRunning }
    }

    /// `delete [--force] ID`: a created container is killed (as runc does); a
    /// running one only with force. Then its cgroup and folder go.
    public func delete(_ id: String, force: Bool) throws {
        let c: OCIContainer
        do { c = try load(id) } catch let e as OCIError where e.description == OCIError.notExist.description {
            if force { return }
            throw e
        } catch {
            guard force else { throw error }
            try? FileManager.default.removeItem(atPath: directory(id))
            return
        }
        let s = status(c)
        if s == "running" || s == "paused" {
            guard force else { throw OCIError("cannot delete container \(id) that is not stopped: \(s)") }
        }
        let initProcess = ContainerProcess(pid: c.pid, startTime: c.pidStartTime)
        if s != "stopped" {
            if let path = c.cgroupsPath, !path.isEmpty { for pid in Cgroup(path: path).processes() { Glibc.kill(pid, SIGKILL) } }
            initProcess.signal(SIGKILL)
            if !initProcess.waitForExit(seconds: 10) {
                throw OCIError("container \(id) did not die after SIGKILL within 10 seconds (\(initProcess.whereStuck))")
            }
        }
        // Cgroup.remove retries for about two seconds, killing what is left: a cgroup that
        // outlasts that keeps the container, so a later delete can finish it (none is leaked).
        if let path = c.cgroupsPath, !path.isEmpty {
            let cg = Cgroup(path: path)
            if cg.exists() && !cg.remove() {
                throw OCIError("cannot delete container \(id): its cgroup \(path) still has processes (\(cg.processes().map(String.init).joined(separator: " "))): try again")
            }
        }
        let poststop = c.poststop ?? []
        try? FileManager.default.removeItem(atPath: directory(id))
        // poststop after everything is gone, as runc: a failure is reported, the container stays deleted.
        if !poststop.isEmpty {
            try Self.runHooks(poststop, kind: "poststop",
                              state: OCIState(ociVersion: "1.0.2", id: id, status: "stopped", pid: 0, bundle: c.bundle,
                                              rootfs: c.rootfs, created: c.created, annotations: c.annotations, owner: ""))
        }
    }
}
