import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the engine, printed as one line; `exitCode` follows `docker run`:
/// 127 the command was not found, 126 it could not be invoked, 125 anything else.
public enum EngineError: Error, CustomStringConvertible {
    case invalidSpec(String)
    /// A cgroup file could not be made or written: the message names the file and errno.
    case cgroup(String)
    case system(String, Errno)
    case setup(stage: String, detail: String, Errno)
    case commandNotFound(String, Errno)
    case cannotInvoke(String, Errno)
    /// A hook the child ran in the container's namespaces failed: which, and how.
    case hook(String)
    /// Not an error: the child reached the start gate (create/start).
    case readyAtGate
    var isReadyAtGate: Bool { if case .readyAtGate = self { return true }; return false }

    public var description: String {
        switch self {
        case .invalidSpec(let m): return "invalid runtime spec: \(m)"
        case .cgroup(let m): return "\(m)"
        case .system(let what, let e): return "\(what): \(e)"
        case .setup(let stage, let detail, let e): return "container setup failed: \(stage) \(detail): \(e)"
        // Lower-case errno words, as runc (Go) prints them: engines match on them.
        case .commandNotFound(let cmd, let e):
            return cmd.contains("/")
                ? "exec: \"\(cmd)\": \(Self.goStyle(e)): check the path inside the rootfs"
                : "exec: \"\(cmd)\": executable file not found in $PATH"
        case .cannotInvoke(let cmd, let e): return "exec: \"\(cmd)\": \(Self.goStyle(e))"
        case .hook(let what): return "error running \(what)"
        case .readyAtGate: return "the container is created and waits to be started"
        }
    }

    static func goStyle(_ e: Errno) -> String {
        let text = "\(e)"
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    public var exitCode: Int32 {
        switch self {
        case .commandNotFound: return 127
        case .cannotInvoke: return 126
        default: return 125
        }
    }
}

/// Standard streams for the container's process when it has no terminal.
public struct SpawnIO: Sendable {
    public var stdin: Int32
    public var stdout: Int32
    public var stderr: Int32
    public init(stdin: Int32 = 0, stdout: Int32 = 1, stderr: Int32 = 2) {
        self.stdin = stdin; self.stdout = stdout; self.stderr = stderr
    }
}

/// The state JSON the hooks that run inside the container are given
/// (createContainer: status "creating", startContainer: "created"); runc gives
/// them the pid as the container sees it.
public struct ContainerHookStates: Sendable {
    public var createContainer: [UInt8]
    public var startContainer: [UInt8]
    public init(createContainer: [UInt8] = [], startContainer: [UInt8] = []) {
        self.createContainer = createContainer; self.startContainer = startContainer
    }
}

public struct SpawnedProcess: Sendable {
    public var pid: Int32
    /// The pty master when `process.terminal` is set; the caller owns it.
    public var consoleMaster: Int32?
    /// The seccomp listener (SCMP_ACT_NOTIFY) for the agent at
    /// `linux.seccomp.listenerPath`; the caller sends it there and closes it.
    public var seccompListener: Int32? = nil
}

/// How this runtime process hands a container over, beside its bundle (the
/// bundle says everything about the container itself): the init's standard
/// streams, a signal for it should this process die (a foreground run), the
/// create/start gate, descriptors the caller passes on, a cache of compiled
/// seccomp programs.
public struct SpawnOptions: Sendable {
    public var io = SpawnIO()
    public var parentDeathSignal: Int32 = 0
    public var startGate: Int32 = -1
    public var preserveFds = 0
    public var seccompCache: String?
    /// Exec only: the process joins the container's existing cgroup.
    var joinExistingCgroup = false
    public init(io: SpawnIO = SpawnIO(), parentDeathSignal: Int32 = 0, startGate: Int32 = -1, preserveFds: Int = 0, seccompCache: String? = nil) {
        self.io = io; self.parentDeathSignal = parentDeathSignal; self.startGate = startGate
        self.preserveFds = preserveFds; self.seccompCache = seccompCache
    }
}

/// Executes an OCI bundle: one code path for `minirt run` and the
/// runc-compatible verbs.
public enum Engine {
    /// Clones the container's init with its namespaces, sets it up and execs its
    /// process. Returns once execve succeeded; throws (with nothing left running)
    /// when any step failed.
    /// `whileSettingUp` runs right after the clone, while the child mounts and
    /// execs on the other core: bookkeeping done there costs no start-up time.
    public static func spawn(_ spec: OCISpec, bundle: String, options: SpawnOptions = SpawnOptions(),
                             beforeSetup: ((Int32) throws -> ContainerHookStates)? = nil,
                             whileSettingUp: ((Int32) -> Void)? = nil) throws -> SpawnedProcess {
        guard let process = spec.process, !process.args.isEmpty else {
            throw EngineError.invalidSpec("process.args is empty: give a command")
        }
        guard let root = spec.root else { throw EngineError.invalidSpec("root.path is missing") }
        try refuseUnsupported(spec)
        let rootfs = root.path.hasPrefix("/") ? root.path : "\(bundle)/\(root.path)"

        var cloneFlags: UInt = 0
        var joins: [(Int32, String)] = []
        for ns in spec.linux?.namespaces ?? [] {
            guard let flag = namespaceFlags[ns.type] else {
                throw EngineError.invalidSpec("unknown namespace type \"\(ns.type)\"")
            }
            if let path = ns.path, !path.isEmpty { joins.append((flag, path)) } else { cloneFlags |= UInt(flag) }
        }
        let types = (spec.linux?.namespaces ?? []).map(\.type)
        if let dup = types.first(where: { t in types.filter { $0 == t }.count > 1 }) {
            throw EngineError.invalidSpec("linux.namespaces names \"\(dup)\" twice: give each namespace type once")
        }
        guard joins.count <= Int(MINIRT_MAX_JOINS) else {
            throw EngineError.invalidSpec("linux.namespaces joins \(joins.count) namespaces: at most \(MINIRT_MAX_JOINS)")
        }

        let userMaps = try UserNamespace.maps(spec.linux, creating: cloneFlags & UInt(MINIRT_CLONE_NEWUSER) != 0)

        let arena = CArena()
        var cfg = minirt_spawn_config()
        cfg.clone_flags = cloneFlags
        let cJoins = joins.map { minirt_namespace_join(type: $0.0, path: arena.string($0.1)) }
        cfg.joins = arena.array(cJoins)
        cfg.njoins = cJoins.count

        cfg.rootfs = arena.string(rootfs)
        let overlay = spec.rootOverlayData
        if let overlay { cfg.overlay_data = arena.string(overlay) }
        cfg.rootfs_propagation = propagationFlags(spec.linux?.rootfsPropagation)
        cfg.rootfs_readonly = root.readonly == true ? 1 : 0

        // The root overlay is mounted on the root path before everything else (above).
        let listed = (spec.mounts ?? []).filter { !($0.destination == "/" && $0.type == "overlay") }
        // Without a cgroup namespace of its own the container sees its cgroups by bind mounts.
        let ownCgroupNamespace = (spec.linux?.namespaces ?? []).contains { $0.type == "cgroup" }
        var cgroupPaths: [String: String]?
        if !ownCgroupNamespace && listed.contains(where: { $0.type == "cgroup" }) {
            // No cgroup of its own (no cgroupsPath): the one it stays in, minirt's.
            cgroupPaths = spec.linux?.cgroupsPath.flatMap { $0.isEmpty ? nil : Cgroup.samePath($0) } ?? Cgroup.ownPaths()
        }
        let expanded = listed.flatMap { m in m.type == "cgroup" ? Cgroup.mounts(for: m, ownCgroup: cgroupPaths) : [m] }
        let mounts = expanded.map { m -> minirt_mount in
            let plan = MountPlan(m)
            var source = plan.source
            if plan.isBind, let s = source, !s.hasPrefix("/") { source = "\(bundle)/\(s)" }
            var st = stat()
            let isFile = plan.isBind && source.map { stat($0, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR } == true
            return minirt_mount(
                source: source.map(arena.string), target: arena.string(plan.target),
                fstype: plan.fstype.map(arena.string), flags: plan.flags, propagation: plan.propagation,
                data: plan.data.map(arena.string), remount_readonly: plan.remountReadonly ? 1 : 0,
                target_is_file: isFile ? 1 : 0)
        }
        cfg.mounts = arena.array(mounts)
        cfg.nmounts = mounts.count

        let devices = (spec.linux?.devices ?? OCISpec.defaultDevices()).map { d -> minirt_device in
            let kind: UInt32 = d.type == "b" ? UInt32(S_IFBLK) : UInt32(S_IFCHR)
            return minirt_device(path: arena.string(d.path), mode: kind | ((d.fileMode ?? 0o666) & 0o7777),
                                 major: UInt32(d.major ?? 0), minor: UInt32(d.minor ?? 0),
                                 uid: d.uid ?? 0, gid: d.gid ?? 0)
        }
        let hasDevTmpfs = spec.mounts?.contains { $0.destination == "/dev" } ?? false
        if hasDevTmpfs {
            cfg.devices = arena.array(devices)
            cfg.ndevices = devices.count
            cfg.default_dev_symlinks = 1
        }
        let masked = spec.linux?.maskedPaths ?? []
        cfg.masked_paths = arena.stringArray(masked, terminated: false)
        cfg.nmasked = masked.count
        let readonly = spec.linux?.readonlyPaths ?? []
        cfg.readonly_paths = arena.stringArray(readonly, terminated: false)
        cfg.nreadonly = readonly.count

        // As runc: a name can only be set in a UTS namespace of the container's own.
        if cloneFlags & UInt(MINIRT_CLONE_NEWUTS) == 0 && (!(spec.hostname ?? "").isEmpty || !(spec.domainname ?? "").isEmpty) {
            throw EngineError.invalidSpec("unable to set hostname without a private UTS namespace: drop hostname/domainname or add a uts namespace")
        }
        if let h = spec.hostname, !h.isEmpty { cfg.hostname = arena.string(h) }
        if let d = spec.domainname, !d.isEmpty { cfg.domainname = arena.string(d) }
        let sysctl = try Sysctl.check(spec.linux?.sysctl ?? [:], namespaces: Sysctl.ownNamespaces(spec.linux?.namespaces ?? []))
        cfg.sysctl_paths = arena.stringArray(sysctl.map(\.path), terminated: false)
        cfg.sysctl_values = arena.stringArray(sysctl.map(\.value), terminated: false)
        cfg.nsysctl = sysctl.count
        if let adj = process.oomScoreAdj {
            guard (-1000...1000).contains(adj) else { throw EngineError.invalidSpec("process.oomScoreAdj \(adj) is outside -1000..1000") }
            cfg.set_oom_score_adj = 1
            cfg.oom_score_adj = Int32(adj)
        }
        guard process.cwd.isEmpty || process.cwd.hasPrefix("/") else {
            throw EngineError.invalidSpec("process.cwd \"\(process.cwd)\" must be an absolute path inside the container")
        }
        cfg.cwd = arena.string(process.cwd)
        let env = process.env ?? []
        cfg.argv = arena.stringArray(process.args, terminated: true)
        cfg.envp = arena.stringArray(env, terminated: true)
        if let path = env.last(where: { $0.hasPrefix("PATH=") }) { cfg.path_env = arena.string(String(path.dropFirst(5))) }

        cfg.uid = process.user.uid
        cfg.gid = process.user.gid
        let groups = process.user.additionalGids ?? []
        cfg.groups = arena.array(groups)
        cfg.ngroups = groups.count
        cfg.set_groups = 1
        if let mask = process.user.umask, mask > 0o777 {
            throw EngineError.invalidSpec("process.user.umask \(mask) is not a file mode mask: give 0 to 0777 (e.g. 18 for 022)")
        }
        cfg.umask = process.user.umask ?? 0o022
        cfg.no_new_privileges = process.noNewPrivileges == true ? 1 : 0
        let limits = try (process.rlimits ?? []).map { l -> minirt_rlimit in
            guard let resource = rlimitNumbers[l.type] else {
                throw EngineError.invalidSpec("process.rlimits: unknown type \"\(l.type)\": use RLIMIT_NOFILE, RLIMIT_NPROC, ...")
            }
            guard l.soft <= l.hard else {
                throw EngineError.invalidSpec("process.rlimits: \(l.type) soft limit \(l.soft) is above its hard limit \(l.hard)")
            }
            return minirt_rlimit(name: arena.string(l.type), resource: resource, soft: l.soft, hard: l.hard)
        }
        cfg.rlimits = arena.array(limits)
        cfg.nrlimits = limits.count

        if let caps = process.capabilities {
            do {
                cfg.set_capabilities = 1
                cfg.cap_last = Capabilities.last
                cfg.cap_bounding = try Capabilities.mask(caps.bounding ?? [])
                cfg.cap_effective = try Capabilities.mask(caps.effective ?? [])
                cfg.cap_permitted = try Capabilities.mask(caps.permitted ?? [])
                cfg.cap_inheritable = try Capabilities.mask(caps.inheritable ?? [])
                cfg.cap_ambient = try Capabilities.mask(caps.ambient ?? [])
            } catch {
                throw EngineError.invalidSpec("process.capabilities: \(error)")
            }
        }
        if let profile = spec.linux?.seccomp {
            let program = try filter(for: profile, cacheDirectory: options.seccompCache)
            guard program.count <= Int(UInt16.max) else { throw EngineError.invalidSpec("seccomp filter too long") }
            cfg.seccomp_filter = UnsafeRawPointer(arena.array(program))
            cfg.seccomp_len = UInt16(program.count)
            do { cfg.seccomp_flags = try SeccompFilter.flags(profile.flags ?? []) } catch { throw EngineError.invalidSpec("\(error)") }
            if SeccompFilter.notifies(profile) && (profile.listenerPath ?? "").isEmpty {
                throw EngineError.invalidSpec("linux.seccomp uses SCMP_ACT_NOTIFY but sets no listenerPath: give the agent's unix socket")
            }
        }
        if cloneFlags & UInt(MINIRT_CLONE_NEWCGROUP) != 0 {
            // Created after joining the cgroup, so that it becomes the namespace's root.
            cloneFlags &= ~UInt(MINIRT_CLONE_NEWCGROUP)
            cfg.clone_flags = cloneFlags
            cfg.unshare_cgroupns = 1
        }
        // The child joins its cgroup first thing (see minirt_shim.h, cgroup_dir_fd).
        var cgroup: Cgroup?
        var cgroupFDs: [Int32] = []
        defer { cgroupFDs.forEach { close($0) } }
        cfg.cgroup_dir_fd = -1
        if let path = spec.linux?.cgroupsPath, !path.isEmpty {
            let cg = Cgroup(path: path)
            if !options.joinExistingCgroup {
                // As runc: the default allowed devices follow the spec's own rules.
                var resources = spec.linux?.resources
                if let rules = resources?.devices {
                    resources?.devices = rules + OCISpec.defaultAllowedDevices.filter { !rules.contains($0) }
                }
                do { try cg.create(resources) } catch { throw EngineError.cgroup("\(error)") }
                cgroup = cg
            }
            do {
                switch cg.layout {
                case .v2:
                    cgroupFDs = [try cg.openDirectory()]
                    cfg.cgroup_dir_fd = cgroupFDs[0]
                case .v1:
                    cgroupFDs = try cg.openTasks()
                    cfg.cgroup_task_fds = arena.array(cgroupFDs)
                    cfg.ncgroup_task_fds = cgroupFDs.count
                }
            } catch {
                cgroup?.remove()
                throw EngineError.cgroup("\(error)")
            }
        }
        // Undo the cgroup when the container never started.
        var started = false
        defer { if !started { cgroup?.remove() } }

        let inside = (create: try hooks(spec.hooks?.createContainer, "createContainer", arena),
                      start: try hooks(spec.hooks?.startContainer, "startContainer", arena))
        if !(inside.create.isEmpty && inside.start.isEmpty) && beforeSetup == nil {
            throw EngineError.invalidSpec("hooks.createContainer/startContainer need the runtime's state: run the bundle with `minirt oci`")
        }
        cfg.create_container_hooks = arena.array(inside.create)
        cfg.ncreate_container_hooks = inside.create.count
        cfg.start_container_hooks = arena.array(inside.start)
        cfg.nstart_container_hooks = inside.start.count

        cfg.stdio = (options.io.stdin, options.io.stdout, options.io.stderr)
        cfg.parent_death_signal = options.parentDeathSignal
        // With beforeSetup (runc's prestart and createRuntime hooks), the child
        // waits in its new namespaces, before any mount, until it returns.
        var syncPipe: [Int32] = [-1, -1]
        if beforeSetup != nil {
            guard minirt_pipe_cloexec(&syncPipe) == 0 else { throw EngineError.system("pipe2", Errno(rawValue: errno)) }
        }
        defer { for fd in syncPipe where fd >= 0 { close(fd) } }
        cfg.sync_fd = syncPipe[0]
        // With a gate (runc's create), the child stops right before execve until
        // a byte arrives on it, and reports that it got there.
        cfg.start_fd = options.startGate
        // Descriptors 3.. the caller passes on must be its own: open and inheritable
        // (every descriptor of minirt's is close-on-exec), never one of ours.
        let preserveFds = options.preserveFds
        for fd in Int32(3)..<Int32(3 + max(0, preserveFds)) {
            let flags = fcntl(fd, F_GETFD)
            guard flags >= 0, flags & FD_CLOEXEC == 0 else {
                throw EngineError.invalidSpec("--preserve-fds \(preserveFds): descriptor \(fd) is not an open, inheritable descriptor of the caller's")
            }
        }
        cfg.preserve_fds = Int32(max(0, preserveFds))

        // error pipe: the child writes a minirt_child_error; EOF means execve worked.
        var errPipe: [Int32] = [0, 0]
        guard minirt_pipe_cloexec(&errPipe) == 0 else { throw EngineError.system("pipe2", Errno(rawValue: errno)) }
        defer { close(errPipe[0]) }
        cfg.error_fd = errPipe[1]

        var consolePair: [Int32] = [-1, -1]
        if process.terminal == true {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &consolePair) == 0 else {
                close(errPipe[1])
                throw EngineError.system("socketpair", Errno(rawValue: errno))
            }
            cfg.terminal = 1
            cfg.console_socket = consolePair[1]
            if let size = process.consoleSize {
                cfg.console_rows = UInt16(clamping: size.height)
                cfg.console_cols = UInt16(clamping: size.width)
            }
        }

        var usernsPair: [Int32] = [-1, -1]
        // A PID namespace joined by path holds only the joiner's children: the init
        // comes from a second clone, as with a user namespace of its own.
        let joinsPid = joins.contains { $0.0 == Int32(MINIRT_CLONE_NEWPID) }
        if userMaps != nil || joinsPid {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &usernsPair) == 0 else {
                close(errPipe[1])
                if consolePair[0] >= 0 { close(consolePair[0]); close(consolePair[1]) }
                throw EngineError.system("socketpair", Errno(rawValue: errno))
            }
        }
        cfg.userns_sock = usernsPair[1]
        cfg.create_userns = userMaps != nil ? 1 : 0
        var listenerPair: [Int32] = [-1, -1]
        if let profile = spec.linux?.seccomp, SeccompFilter.notifies(profile) {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &listenerPair) == 0 else {
                close(errPipe[1])
                for fd in consolePair + usernsPair where fd >= 0 { close(fd) }
                throw EngineError.system("socketpair", Errno(rawValue: errno))
            }
        }
        cfg.seccomp_listener_sock = listenerPair[1]
        defer { if listenerPair[0] >= 0 { close(listenerPair[0]) } }

        var pid = withUnsafePointer(to: &cfg) { minirt_spawn($0) }
        let spawnErrno = errno
        close(errPipe[1])
        if consolePair[1] >= 0 { close(consolePair[1]) }
        if usernsPair[1] >= 0 { close(usernsPair[1]) }
        if listenerPair[1] >= 0 { close(listenerPair[1]) }
        guard pid > 0 else {
            if consolePair[0] >= 0 { close(consolePair[0]) }
            if usernsPair[0] >= 0 { close(usernsPair[0]) }
            throw EngineError.system("clone", Errno(rawValue: spawnErrno))
        }
        if usernsPair[0] >= 0 {
            // The first child made the user namespace; the maps are written from
            // here (root of the host's namespace), then it clones the init.
            defer { close(usernsPair[0]) }
            let result = UserNamespace.handshake(usernsPair[0], child: pid, maps: userMaps)
            reap(pid)
            switch result {
            case .success(let initPid): pid = initPid
            case .failure(let error):
                if consolePair[0] >= 0 { close(consolePair[0]) }
                throw readChildError(errPipe[0]) ?? error
            }
        }

        if let beforeSetup {
            close(syncPipe[0])
            syncPipe[0] = -1
            var states = ContainerHookStates()
            do {
                states = try beforeSetup(pid)
                for s in [states.createContainer, states.startContainer] where s.count > Int(MINIRT_HOOK_STATE_MAX) {
                    throw EngineError.invalidSpec("the state for the container's hooks is \(s.count) bytes: at most \(MINIRT_HOOK_STATE_MAX) (fewer annotations)")
                }
            } catch {
                // EOF on its sync pipe ends the child too; SIGKILL does not wait for it to read.
                close(syncPipe[1])
                syncPipe[1] = -1
                Glibc.kill(pid, SIGKILL)
                reap(pid)
                if consolePair[0] >= 0 { close(consolePair[0]) }
                throw error
            }
            var message: [UInt8] = [1]
            if !(inside.create.isEmpty && inside.start.isEmpty) {
                for s in [states.createContainer, states.startContainer] {
                    withUnsafeBytes(of: UInt32(s.count)) { message += $0 }
                    message += s
                }
            }
            // The pipe is large enough for the go byte and both states (the child reads them at once).
            if message.count > 65536 { _ = fcntl(syncPipe[1], Int32(MINIRT_F_SETPIPE_SZ), Int32(message.count)) }
            var sent = 0
            while sent < message.count {
                let n = message[sent...].withUnsafeBytes { write(syncPipe[1], $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                sent += n
            }
            close(syncPipe[1])
            syncPipe[1] = -1
        }
        whileSettingUp?(pid)

        var master: Int32?
        if consolePair[0] >= 0 {
            let fd = minirt_recv_fd(consolePair[0])
            close(consolePair[0])
            if fd >= 0 { master = fd }
        }

        // Sent before the gate or the execve: nothing (EOF) when the child failed first.
        var listener: Int32?
        if listenerPair[0] >= 0 {
            let fd = minirt_recv_fd(listenerPair[0])
            if fd >= 0 { listener = fd }
        }
        if let failure = readChildError(errPipe[0]), !(options.startGate >= 0 && failure.isReadyAtGate) {
            if let m = master { close(m) }
            if let l = listener { close(l) }
            reap(pid)
            throw failure
        }
        if process.terminal == true && master == nil {
            reap(pid)
            throw EngineError.setup(stage: "console", detail: "pty", .ioError)
        }
        if listenerPair[0] >= 0 && listener == nil {
            Glibc.kill(pid, SIGKILL)
            reap(pid)
            throw EngineError.setup(stage: "loading", detail: "seccomp filter with a listener", .ioError)
        }
        started = true
        return SpawnedProcess(pid: pid, consoleMaster: master, seccompListener: listener)
    }

    /// createContainer/startContainer hooks for the shim, which runs them itself.
    static func hooks(_ list: [OCISpec.Hook]?, _ kind: String, _ arena: CArena) throws -> [minirt_hook] {
        try (list ?? []).enumerated().map { i, h in
            guard h.path.hasPrefix("/") else { throw EngineError.invalidSpec("hooks.\(kind)[\(i)].path \"\(h.path)\" is not absolute") }
            if let t = h.timeout, t <= 0 { throw EngineError.invalidSpec("hooks.\(kind)[\(i)].timeout must be above 0") }
            return minirt_hook(path: arena.string(h.path), argv: arena.stringArray(h.args ?? [h.path], terminated: true),
                               envp: arena.stringArray(h.env ?? [], terminated: true), timeout: Int32(clamping: h.timeout ?? 0))
        }
    }

    /// Fields minirt does not carry out and whose absence would weaken or change
    /// the container: refused with the reason, never silently ignored.
    static func refuseUnsupported(_ spec: OCISpec) throws {
        if let p = spec.process?.apparmorProfile, !p.isEmpty {
            throw EngineError.invalidSpec("process.apparmorProfile \"\(p)\" is not supported: minirt applies no AppArmor profile (and this host has AppArmor \(access("/sys/module/apparmor", F_OK) == 0 ? "loaded" : "off")); remove the field")
        }
        if let l = spec.process?.selinuxLabel, !l.isEmpty {
            throw EngineError.invalidSpec("process.selinuxLabel is not supported: minirt applies no SELinux label; remove the field")
        }
        if let l = spec.linux?.mountLabel, !l.isEmpty {
            throw EngineError.invalidSpec("linux.mountLabel is not supported: minirt applies no SELinux label; remove the field")
        }
        for (i, m) in (spec.mounts ?? []).enumerated() {
            let idmap = (m.options ?? []).contains { $0 == "idmap" || $0 == "ridmap" } || !(m.uidMappings ?? []).isEmpty || !(m.gidMappings ?? []).isEmpty
            if idmap {
                // runc 1.1.5 ignores them and mounts with the host's ids: that would hand the container files it should not own.
                throw EngineError.invalidSpec("mounts[\(i)] (\(m.destination)): idmapped mounts are not supported: drop idmap and the mount's uid/gid mappings")
            }
        }
        if spec.linux?.intelRdt != nil {
            throw EngineError.invalidSpec("linux.intelRdt is not supported: remove the field")
        }
    }

    /// Compiled filters are cached by profile in `cacheDirectory`: libseccomp
    /// takes ~25 ms to build Docker's ~400 rules for three architectures, a
    /// cached program is one small read.
    static func filter(for profile: OCISpec.Seccomp, cacheDirectory: String?) throws -> [UInt64] {
        let path = cacheDirectory.map { "\($0)/\(SeccompFilter.fingerprint(profile)).bpf" }
        if let path, let cached = SeccompFilter.readProgram(path) { return cached }
        let program: [UInt64]
        do { program = try SeccompFilter.compile(profile) } catch { throw EngineError.invalidSpec("\(error)") }
        if let dir = cacheDirectory, let path {
            mkdir(dir, 0o700)
            SeccompFilter.writeProgram(program, to: path)
        }
        return program
    }

    /// RLIMIT_* names as the runtime spec writes them (Linux numbering).
    static let rlimitNumbers: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
        "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
        "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    static let namespaceFlags: [String: Int32] = [
        "pid": Int32(MINIRT_CLONE_NEWPID), "network": Int32(MINIRT_CLONE_NEWNET),
        "mount": Int32(MINIRT_CLONE_NEWNS), "ipc": Int32(MINIRT_CLONE_NEWIPC),
        "uts": Int32(MINIRT_CLONE_NEWUTS), "user": Int32(MINIRT_CLONE_NEWUSER),
        "cgroup": Int32(MINIRT_CLONE_NEWCGROUP),
    ]

    static func propagationFlags(_ name: String?) -> UInt {
        switch name {
        case "shared", "rshared": return UInt(MS_SHARED | MS_REC)
        case "slave", "rslave": return UInt(MS_SLAVE | MS_REC)
        case "unbindable", "runbindable": return UInt(MS_UNBINDABLE | MS_REC)
        default: return UInt(MS_PRIVATE | MS_REC)
        }
    }

    static let stageNames: [Int32: String] = [
        Int32(MINIRT_STAGE_SETNS.rawValue): "joining namespace",
        Int32(MINIRT_STAGE_PROPAGATION.rawValue): "making mounts private",
        Int32(MINIRT_STAGE_ROOTFS.rawValue): "mounting rootfs",
        Int32(MINIRT_STAGE_MOUNT.rawValue): "mount",
        Int32(MINIRT_STAGE_DEVICE.rawValue): "creating device",
        Int32(MINIRT_STAGE_CONSOLE.rawValue): "creating console",
        Int32(MINIRT_STAGE_PIVOT_ROOT.rawValue): "pivot_root",
        Int32(MINIRT_STAGE_MASK.rawValue): "masking path",
        Int32(MINIRT_STAGE_READONLY.rawValue): "making path read-only",
        Int32(MINIRT_STAGE_HOSTNAME.rawValue): "sethostname",
        Int32(MINIRT_STAGE_STDIO.rawValue): "setting up stdio",
        Int32(MINIRT_STAGE_CWD.rawValue): "changing to working directory",
        Int32(MINIRT_STAGE_USER.rawValue): "switching user",
        Int32(MINIRT_STAGE_PRCTL.rawValue): "prctl",
        Int32(MINIRT_STAGE_NETWORK.rawValue): "bringing up",
        Int32(MINIRT_STAGE_CGROUP.rawValue): "joining cgroup",
        Int32(MINIRT_STAGE_CAPABILITIES.rawValue): "setting capabilities",
        Int32(MINIRT_STAGE_SECCOMP.rawValue): "loading",
        Int32(MINIRT_STAGE_SYSCTL.rawValue): "writing sysctl",
        Int32(MINIRT_STAGE_RLIMIT.rawValue): "setting the rlimit (raising one above the hard limit minirt itself has needs CAP_SYS_RESOURCE)",
        Int32(MINIRT_STAGE_OOM_SCORE.rawValue): "setting oom_score_adj (lowering it needs CAP_SYS_RESOURCE) to",
        Int32(MINIRT_STAGE_USERNS.rawValue): "creating the user namespace:",
        Int32(MINIRT_STAGE_CLONE.rawValue): "cloning",
        Int32(MINIRT_STAGE_HOOK.rawValue): "running",
    ]

    /// Reads the child's error report; nil on EOF (execve succeeded). A
    /// report of stage START_WAIT with no error means "set up, waiting at the gate".
    static func readChildError(_ fd: Int32) -> EngineError? {
        var report = minirt_child_error()
        guard Descriptors.readFully(fd, &report, MemoryLayout<minirt_child_error>.size) else { return nil }
        let detail = withUnsafeBytes(of: report.detail) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let e = Errno(rawValue: report.err)
        if report.stage == Int32(MINIRT_STAGE_START_WAIT.rawValue) && report.err == 0 { return .readyAtGate }
        if report.stage == Int32(MINIRT_STAGE_HOOK.rawValue) { return .hook(detail) }
        if report.stage == Int32(MINIRT_STAGE_EXEC.rawValue) {
            switch report.err {
            case ENOENT, ENOTDIR: return .commandNotFound(detail, e)
            default: return .cannotInvoke(detail, e)
            }
        }
        return .setup(stage: stageNames[report.stage] ?? "stage \(report.stage)", detail: detail, e)
    }

    static func reap(_ pid: Int32) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// C memory for one spawn: strings and arrays live until the arena is freed,
/// after the child has exec'd (the child has its own copy of the address space).
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    /// Only for trivial C types (structs of scalars and pointers): no deinitialization.
    func array<T>(_ items: [T]) -> UnsafePointer<T>? {
        guard !items.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<T>.stride * items.count)!
        let p = raw.bindMemory(to: T.self, capacity: items.count)
        p.initialize(from: items, count: items.count)
        blocks.append(raw)
        return UnsafePointer(p)
    }

    func stringArray(_ items: [String], terminated: Bool) -> UnsafePointer<UnsafePointer<CChar>?>? {
        var ptrs: [UnsafePointer<CChar>?] = items.map { string($0) }
        if terminated { ptrs.append(nil) }
        return array(ptrs)
    }

    deinit { blocks.forEach { free($0) } }
}
