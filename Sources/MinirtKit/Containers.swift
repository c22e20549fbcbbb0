import FoundationEssentials
import MinirtCNI
import MinirtLog
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

public enum ContainerError: Error, CustomStringConvertible, Equatable {
    case running(String)
    case restarting(String)
    case stillAlive(String)

    public var description: String {
        switch self {
        case .running(let n):
            return "cannot remove container \"\(n)\": container is running: stop it first or force the removal (minirt rm -f \(n))"
        case .restarting(let n):
            return "cannot remove container \"\(n)\": container is restarting: stop it first or force the removal (minirt rm -f \(n))"
        case .stillAlive(let n):
            return "container \"\(n)\" did not die after SIGKILL within 60 seconds: try again"
        }
    }
}

/// The high-level operations behind the CLI verbs, over one state store, one
/// image store and one folder of network configurations.
public struct Containers: Sendable {
    public let store: StateStore
    public let images: ImageStore
    public let networks: Networks
    public let volumes: VolumeStore

    public init(store: StateStore, images: ImageStore, networks: Networks, volumes: VolumeStore = .fromEnvironment) {
        self.store = store
        self.images = images
        self.networks = networks
        self.volumes = volumes
    }

    var attacher: NetworkAttacher { NetworkAttacher(networks: networks, store: store) }

    // MARK: run

    /// A container decided but not yet created: what `run` checked up front.
    struct Decision {
        var plan: RunPlan
        var list: NetworkConfigList?
        var choice: NetworkChoice
        var requestedPorts: [PortBinding]
    }

    /// Checks everything that can be checked before anything exists: root, name,
    /// image, network, ports syntax, environment, extra hosts.
    func decide(_ o: RunOptions) throws -> Decision {
        guard geteuid() == 0 else { throw RunError.notRoot }
        if let n = o.name, !StateStore.isValidName(n) { throw StateError.invalidName(n) }
        if let f = o.cidfile, access(f, F_OK) == 0 {
            throw RunError.invalid("container ID file found, make sure the other container isn't running or delete \(f)")
        }
        let image = try images.resolve(o.image)
        let id = StateStore.newID()

        var requested = try o.publish.flatMap(PortSpec.parse)
        if o.publishAll {
            for key in image.config.ExposedPorts?.keys.sorted() ?? [] {
                let parts = key.split(separator: "/")
                if let port = UInt16(parts[0]), !requested.contains(where: { $0.containerPort == port }) {
                    requested.append(PortBinding(hostIP: "", hostPort: 0, containerPort: port, proto: parts.count > 1 ? String(parts[1]) : "tcp"))
                }
            }
        }
        // docker's long form: its settings join the short flags' (both at once is a conflict, as in docker).
        let first = try NetworkFlag(o.network)
        var o = o
        for (given, flag) in [(first.ip != nil, o.ip != nil ? "--ip" : nil), (first.ip6 != nil, o.ip6 != nil ? "--ip6" : nil),
                              (first.mac != nil, o.macAddress != nil ? "--mac-address" : nil)] where given {
            if let flag { throw RunError.invalid("conflicting options: \(flag) and the ip/ip6/mac-address of --network name=…: give one") }
        }
        o.ip = o.ip ?? first.ip
        o.ip6 = o.ip6 ?? first.ip6
        o.macAddress = o.macAddress ?? first.mac
        o.networkAliases += first.aliases
        let (list, choice) = try resolveNetwork(try NetworkMode(first.name), id: id)
        if list == nil && first.hasSettings {
            throw RunError.invalid("--network \(first.name) takes no alias, ip or mac-address: they need a network of minirt's")
        }
        if !requested.isEmpty && list == nil {
            throw RunError.invalid("port publishing needs a bridge network: drop -p/-P or use --network bridge (it is \(choice.modeName))")
        }
        o.confinement.volumesRoot = volumes.root
        o.confinement.inheritedMounts = try o.confinement.volumesFrom.flatMap(inheritedMounts)
        // --pid/--ipc container:NAME: that container's namespace, by path (it must run).
        for (kind, value) in [("pid", o.pid), ("ipc", o.ipc)] {
            guard let value, value.hasPrefix("container:") else { continue }
            let target = refreshed(try get(String(value.dropFirst(10))))
            guard target.state.status == .running, target.state.pid > 0 else {
                throw RunError.invalid("cannot join the \(kind) namespace of container \"\(target.name)\": it is not running")
            }
            o.joinedNamespaces[kind] = "/proc/\(target.state.pid)/ns/\(kind)"
        }
        // --userns auto: a range taken now (a marker), given back if anything below refuses.
        if o.userns == "auto" {
            try UserNamespacePool.checkTraversable(store.root)
            o.usernsRange = try UserNamespacePool().allocate(id: id, stateRoot: store.root)
        }
        do {
            return try decided(o, image: image, id: id, list: list, choice: choice, requested: requested)
        } catch {
            if let range = o.usernsRange { UserNamespacePool().release(id: id, range: range) }
            throw error
        }
    }

    private func decided(_ o: RunOptions, image: Image, id: String, list: NetworkConfigList?, choice: NetworkChoice,
                         requested: [PortBinding]) throws -> Decision {
        var plan = try RunPlan.make(o, image: image, id: id, name: o.name ?? NameGenerator.make(),
                                    directory: store.directory(id), network: choice, ports: requested,
                                    hostEnv: ProcessInfo.processInfo.environment, hostHostname: Self.hostHostname())
        plan.record.hostConfig.networkAliases = o.networkAliases
        try Networks.checkStatic(ip: o.ip, mac: o.macAddress, list: list, mode: choice.modeName)
        plan.record.hostConfig.links = o.links.isEmpty ? nil : o.links
        plan.record.hostConfig.staticIP = o.ip
        plan.record.hostConfig.macAddress = o.macAddress
        if let list {
            try Networks.checkStatic6(o.ip6, list: list)
            try Networks.checkPublished(requested, list: list)
            plan.record.hostConfig.networks = [.init(network: list.name, aliases: o.networkAliases, ip: o.ip, ip6: o.ip6, mac: o.macAddress)]
                + (try moreNetworks(o.moreNetworks, first: list.name))
        } else if o.ip6 != nil {
            throw RunError.invalid("--ip6 needs a dual-stack network of minirt's (network create --ipv6): the network mode \(choice.modeName) has none")
        } else if !o.moreNetworks.isEmpty {
            throw RunError.invalid("container cannot be connected to multiple networks with one of the networks in \(choice.modeName) mode: give only CNI networks to --network")
        }
        _ = try extraHosts(plan.record, list: list)
        return Decision(plan: plan, list: list, choice: choice, requestedPorts: requested)
    }

    /// The networks after the first of `run --network a --network b`: CNI networks
    /// that exist, each once.
    func moreNetworks(_ names: [String], first: String) throws -> [ContainerRecord.EndpointConfig] {
        var seen = [first]
        return try names.map { value in
            let flag = try NetworkFlag(value)
            guard case .cni(let n) = try NetworkMode(flag.name) else {
                throw RunError.invalid("container cannot be connected to multiple networks with one of the networks in \(flag.name) mode: give only CNI networks to --network")
            }
            let l = try networks.load(n)
            guard !seen.contains(l.name) else { throw RunError.invalid("--network \(l.name) is given twice: a container joins a network once") }
            seen.append(l.name)
            try networks.cni.validate(l)
            for a in flag.aliases where !Validate.isHostName(a) {
                throw RunError.invalid("invalid alias \"\(Validate.printable(a))\" of --network \(l.name): give a host name (letters, digits, -)")
            }
            try Networks.checkStatic(ip: flag.ip, mac: flag.mac, list: l, mode: l.name)
            try Networks.checkStatic6(flag.ip6, list: l)
            return .init(network: l.name, aliases: flag.aliases, ip: flag.ip, ip6: flag.ip6, mac: flag.mac)
        }
    }

    func resolveNetwork(_ mode: NetworkMode, id: String) throws -> (NetworkConfigList?, NetworkChoice) {
        switch mode {
        case .none: return (nil, .none)
        case .host: return (nil, .host)
        case .cni(let name):
            let l = try networks.load(name)
            try networks.cni.validate(l)
            try networks.cni.validate(Networks.loopback)
            return (l, .cni(name: l.name, netns: NetworkNamespace.pinPath(for: id)))
        case .container(let ref):
            let target = try get(ref)
            guard target.state.status == .running else {
                throw RunError.invalid("cannot join the network of container \"\(target.name)\": it is not running")
            }
            return (nil, .container(id: target.id, netns: target.network?.netnsPath ?? "/proc/\(target.state.pid)/ns/net"))
        }
    }

    func extraHosts(_ r: ContainerRecord, list: NetworkConfigList?) throws -> [(String, String)] {
        let gateway = list.flatMap(Networks.gateway(of:)) ?? ""
        return try r.hostConfig.extraHosts.map { try DNSFiles.parseExtraHost($0, gateway: gateway) } + links(r, list: list)
    }

    /// docker's legacy --link NAME[:ALIAS]: the linked container's address under
    /// its alias and its name in /etc/hosts. It must run, on the same network.
    func links(_ r: ContainerRecord, list: NetworkConfigList?) throws -> [(String, String)] {
        try (r.hostConfig.links ?? []).flatMap { link -> [(String, String)] in
            let parts = link.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let name = parts.first, StateStore.isValidName(name), parts.dropFirst().allSatisfy({ Validate.isHostName($0, allowUnderscore: true) }) else {
                throw RunError.invalid("invalid --link \"\(Validate.printable(link))\": write NAME[:ALIAS]")
            }
            let target = refreshed(try get(name))
            guard target.state.status == .running, let net = target.network, !net.ipAddress.isEmpty else {
                throw RunError.invalid("cannot link to \(target.name): it is not running on a network (docker's: cannot link to a non running container)")
            }
            guard net.network == list?.name else {
                throw RunError.invalid("cannot link to \(target.name): it is on network \(net.network), this container on \(list?.name ?? "none")")
            }
            let alias = parts.count > 1 ? parts[1] : target.name
            return alias == target.name ? [(alias, net.ipAddress)] : [(alias, net.ipAddress), (target.name, net.ipAddress)]
        }
    }

    /// Creates the container's folder: state, OCI config.json, overlay folders;
    /// and the --cidfile (O_EXCL: two runs never share one).
    func materialize(_ d: Decision, generatedName: Bool, cidfile: String? = nil, writeSpecNow: Bool = true) throws -> ContainerRecord {
        let record = try createWithFreshName(d.plan.record, generated: generatedName)
        emit("create", record)
        let directory = store.directory(record.id)
        do {
            for sub in ["upper", "work", "rootfs"] { try StateStore.makeDirectory("\(directory)/\(sub)") }
            if let range = record.hostConfig.userNamespace {
                // Its root mounts its layers as itself: the folder lets its group (alone) through.
                guard chown(directory, 0, range.gid) == 0, chmod(directory, 0o710) == 0 else {
                    throw RunError.invalid("chown \(directory): \(String(cString: strerror(errno)))")
                }
                // Its root owns its layers: the image shifted into its ids, and the writable layer.
                try UserNamespacePool.shiftedCopy(of: d.plan.imageRootfs, to: record.rootfs, range: range)
                for sub in ["upper", "work"] where chown("\(directory)/\(sub)", range.uid, range.gid) != 0 {
                    throw RunError.invalid("chown \(directory)/\(sub): \(String(cString: strerror(errno)))")
                }
            }
            try prepareVolumes(record)
            if let log = record.hostConfig.logConfig {
                try StateStore.writeAtomically(Data(LogOptions.supervisorLine(log).utf8), to: "\(directory)/log.options")
            }
            if writeSpecNow { try writeSpec(d.plan.spec, id: record.id) }
            if let f = cidfile {
                let fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard fd >= 0 else {
                    throw RunError.invalid("cannot write the container ID file \(f): \(String(cString: strerror(errno)))")
                }
                _ = record.id.withCString { write(fd, $0, strlen($0)) }
                close(fd)
            }
        } catch {
            try? store.remove(record.id, name: record.name)
            volumes.removeAnonymous(of: record, store: store)
            if let range = record.hostConfig.userNamespace { UserNamespacePool().release(id: record.id, range: range) }
            throw error
        }
        return record
    }

    /// The OCI runtime spec the engine runs, kept in the container's folder.
    func writeSpec(_ spec: OCISpec, id: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        try StateStore.writeAtomically(try encoder.encode(spec), to: store.directory(id) + "/config.json")
    }

    /// The host side and the process: network (ports already reserved), DNS
    /// files, then the container itself. The caller undoes on failure.
    func launch(_ record: inout ContainerRecord, spec: OCISpec, list: NetworkConfigList?, choice: NetworkChoice,
                io: SpawnIO, parentDeathSignal: Int32,
                whileSettingUp: ((Int32) -> Void)? = nil) throws -> SpawnedProcess {
        // A container started again may still hold an old attachment: DEL before ADD.
        if !record.attachments.isEmpty { try attacher.detach(&record) }
        if let list {
            let h = record.hostConfig
            let upstream = Self.upstreamDNS(h)
            // Each network in order: the first gets the default route and the published ports.
            for (i, endpoint) in h.endpoints.enumerated() {
                let l = endpoint.network == list.name ? list : try networks.load(endpoint.network)
                try attacher.attach(&record, list: l, endpoint: endpoint, ports: i == 0 ? h.portBindings : [], upstreamDNS: upstream)
            }
            // Before its process runs: its first connect() to a VIP may already skip the rules.
            services.registerClient(record)
        }
        try writeDNSFiles(record, choice: choice, extraHosts: try extraHosts(record, list: list))
        return try Engine.spawn(spec, bundle: store.directory(record.id),
                                options: SpawnOptions(io: io, parentDeathSignal: parentDeathSignal, seccompCache: seccompCache),
                                whileSettingUp: whileSettingUp)
    }

    func markRunning(_ record: inout ContainerRecord, _ spawned: SpawnedProcess) {
        record.state.status = .running
        record.state.restarting = nil
        record.state.pid = spawned.pid
        record.state.pidStartTime = ProcessIdentity.startTime(of: spawned.pid) ?? 0
        record.state.startedAt = .now()
        record.state.oomKilled = false
        record.state.error = ""
        // Health starts over with each start, as in docker.
        record.state.health = record.config.healthcheck?.isActive == true ? Health() : nil
        // Running on its network: an endpoint of the services that select it from now on.
        if record.network != nil { record.network?.serving = true }
        _ = try? store.save(record)
        for net in record.attachments { journal.network("connect", record, network: net.network) }
        emit("start", record)
        if record.network != nil { services.joined(record) }
    }

    /// The init has exited: docker's oom (when the cgroup saw one) and die events.
    func died(_ r: ContainerRecord, code: Int32) {
        if let cg = Self.cgroup(of: r), cg.exists(), cg.oomKills() > 0 { emit("oom", r) }
        emit("die", r, ["exitCode": String(code)])
    }

    /// Runs a container in the foreground and returns `docker run`'s exit code.
    /// Everything is checked before anything is created, and every failure after
    /// that tears down what was made (network, namespace pin, state).
    public func run(_ o: RunOptions) throws -> Int32 {
        var d = try decide(o)
        // Ports are claimed before anything exists: a taken port leaves nothing behind.
        let reservation = try PortReservation(d.requestedPorts)
        defer { reservation.release() }
        d.plan.record.hostConfig.portBindings = reservation.bindings
        // config.json is written while the child sets itself up (below).
        var record = try materialize(d, generatedName: o.name == nil, cidfile: o.cidfile, writeSpecNow: false)
        let id = record.id

        // Output goes through pipes (or the pty) so that `minirt logs` has it too.
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        if !o.tty {
            if let p = Descriptors.pipe() { outPipe = [p.read, p.write] }
            if let p = Descriptors.pipe() { errPipe = [p.read, p.write] }
        }
        let log = LogOptions.rotation(record.hostConfig.logConfig).map { JSONLogWriter(path: store.directory(id) + "/container.log", rotation: $0) }
            ?? JSONLogWriter(fd: -1)
        let spawned: SpawnedProcess
        // rm waits for this lock: it sees the container either not started or running.
        let startLock = store.startLockDescriptor(id)
        do {
            // -a without stdin: the container's stdin is not ours, even with -i.
            let stdinAttached = o.interactive && (o.attach.isEmpty || o.attach.contains { $0.lowercased() == "stdin" })
            let devNull = stdinAttached ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { if devNull >= 0 { close(devNull) } }
            SignalForwarding.block()
            // SIGKILL when minirt dies: a foreground container never outlives its runner.
            var spec = d.plan.spec
            // The pty starts at the size of ours (config.json keeps it, as runc's consoleSize).
            if o.tty, let size = ForegroundMonitor.terminalSize() {
                spec.process?.consoleSize = OCISpec.ConsoleSize(height: UInt32(size.rows), width: UInt32(size.cols))
            }
            spawned = try launch(&record, spec: spec, list: d.list, choice: d.choice,
                                 io: SpawnIO(stdin: stdinAttached ? 0 : devNull, stdout: o.tty ? 1 : outPipe[1], stderr: o.tty ? 2 : errPipe[1]),
                                 parentDeathSignal: SIGKILL,
                                 whileSettingUp: { _ in
                                     // Written on this core while the child mounts and execs on the other.
                                     try? self.writeSpec(spec, id: id)
                                 })
            if !o.tty { close(outPipe[1]); close(errPipe[1]) }
        } catch {
            for fd in outPipe + errPipe where fd >= 0 { close(fd) }
            // The run failed: release everything, even if a plugin's DEL fails too.
            _ = try? release(record, ending: .remove(), force: true)
            if let f = o.cidfile { unlink(f) }
            if startLock >= 0 { close(startLock) }
            throw error
        }
        // This process is the container's runner: it alone writes its state while
        // it runs, so the record in hand is current (rm may only remove it).
        markRunning(&record, spawned)
        if startLock >= 0 { close(startLock) }

        let attached = Set(o.attach.map { $0.lowercased() })
        let monitor = ForegroundMonitor(pid: spawned.pid, consoleMaster: spawned.consoleMaster,
                                        forwardStdin: o.interactive, log: log,
                                        stdoutPipe: o.tty ? nil : outPipe[0], stderrPipe: o.tty ? nil : errPipe[0],
                                        proxySignals: o.sigProxy,
                                        shown: attached.isEmpty ? [.stdout, .stderr] : Set(attached.compactMap(JSONLogWriter.Stream.init(rawValue:))))
        // Health checks on docker's schedule, as the supervisor keeps it for detached ones.
        let ticker = record.config.healthcheck.flatMap { $0.isActive ? HealthTicker(check: $0, id: id, root: store.root) : nil }
        if let ticker { monitor.tick = { ticker.tick() } }
        let code = exitCode(fromWaitStatus: monitor.run())
        // rm -f may have released it already: then the folder is gone and only
        // the cgroup may be left. Without --rm a failing DEL keeps the pin and
        // the record, for rm to retry.
        let current = try? store.load(id)
        var last = current ?? record
        if current == nil { last.network = nil }
        died(last, code: code)
        _ = try? release(last, ending: o.autoRemove || current == nil ? .remove() : .exited(code: code), force: o.autoRemove)
        return code
    }

    /// /etc/hosts, /etc/hostname and /etc/resolv.conf for the container, in its folder.
    /// `running`: the files are bind-mounted into the container already, so
    /// hosts and resolv.conf are rewritten in place (a rename would leave the
    /// container the old inode), as after network connect and disconnect.
    func writeDNSFiles(_ r: ContainerRecord, choice: NetworkChoice, extraHosts: [(String, String)], running: Bool = false) throws {
        let read = Self.read
        let hosts: String
        if choice == .host {
            hosts = (read("/etc/hosts") ?? "") + extraHosts.map { "\($1)\t\($0)\n" }.joined()
        } else {
            hosts = DNSFiles.hosts(hostname: r.config.hostname, name: r.name, addresses: r.attachments.flatMap { [$0.ipAddress] + ($0.ipv6Address.map { [$0] } ?? []) },
                                   extraHosts: extraHosts)
        }
        let served = r.network?.dnsRegistered == true
        let h = r.hostConfig
        let hostFileAsIs = choice == .host && h.dns.isEmpty && h.dnsSearch.isEmpty && h.dnsOptions.isEmpty
        let resolv = hostFileAsIs ? (read("/etc/resolv.conf") ?? "") : DNSFiles.resolvConf(host: read("/etc/resolv.conf") ?? "", upstream: read("/run/systemd/resolve/resolv.conf"),
                                         dns: r.hostConfig.dns, search: r.hostConfig.dnsSearch,
                                         options: r.hostConfig.dnsOptions, keepLoopback: choice == .host,
                                         networkServer: served ? r.network?.gateway : nil,
                                         networkDomain: served ? r.network?.network : nil,
                                         otherNetworks: r.attachments.dropFirst().filter(\.dnsRegistered).map(\.network),
                                         clusterDomain: served ? attacher.clusterDomain(of: r.network!.network) : ServiceNetworkOptions.defaultClusterDomain)
        if running {
            try Self.overwrite(Data(hosts.utf8), at: r.hostsPath)
            try Self.overwrite(Data(resolv.utf8), at: r.resolvConfPath)
            return
        }
        // The paths come from the plan.
        try StateStore.writeAtomically(Data(hosts.utf8), to: r.hostsPath)
        try StateStore.writeAtomically(Data((r.config.hostname + "\n").utf8), to: r.hostnamePath)
        try StateStore.writeAtomically(Data(resolv.utf8), to: r.resolvConfPath)
        // With its own ids, its root owns them as a container's root does (docker's userns-remap too).
        if let range = r.hostConfig.userNamespace {
            for path in [r.hostsPath, r.hostnamePath, r.resolvConfPath] { _ = chown(path, range.uid, range.gid) }
        }
    }

    /// A generated name may collide with one in use: draw again a few times.
    private func createWithFreshName(_ record: ContainerRecord, generated: Bool) throws -> ContainerRecord {
        var r = record
        for attempt in 1... {
            do {
                try store.create(r)
                return r
            } catch StateError.nameInUse where generated && attempt < 8 {
                r.name = "\(NameGenerator.make())_\(attempt + 1)"
            }
        }
        fatalError("unreachable")
    }

    /// Where a network's DNS server sends what it does not answer: --dns, else
    /// the host's resolvers without its loopback stubs.
    static func upstreamDNS(_ h: ContainerRecord.HostConfig) -> [String] {
        h.dns.isEmpty ? DNSFiles.upstreamServers(host: read("/etc/resolv.conf") ?? "", upstream: read("/run/systemd/resolve/resolv.conf")) : h.dns
    }

    /// Replaces a file's content, keeping its inode (what a bind mount shows).
    static func overwrite(_ data: Data, at path: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw RunError.invalid("cannot rewrite \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else { throw RunError.invalid("cannot rewrite \(path): \(String(cString: strerror(errno)))") }
    }

    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func hostHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: queries

    /// The record with its status made true: a container whose process is gone
    /// (its runner was killed) is recorded as exited, never shown as running.
    public func refreshed(_ record: ContainerRecord) -> ContainerRecord {
        guard record.state.status == .running, !Self.isAlive(record) else { return record }
        // A live supervisor is about to record the real exit status itself.
        if record.state.detached, ProcessIdentity.isAlive(pid: record.state.supervisorPid, startTime: record.state.supervisorStartTime) {
            return record
        }
        let updated = try? store.update(record.id) { r in
            guard r.state.status == .running, !Self.isAlive(r) else { return }
            r.state.status = .exited
            r.state.exitCode = 255
            r.state.error = "the container's process vanished (its minirt run was killed); exit status unknown"
            r.state.pid = 0
            r.state.finishedAt = .now()
        }
        return updated ?? record
    }

    static func isAlive(_ r: ContainerRecord) -> Bool {
        ProcessIdentity.isAlive(pid: r.state.pid, startTime: r.state.pidStartTime)
    }

    public func get(_ ref: String) throws -> ContainerRecord {
        refreshed(try store.load(try store.resolve(ref)))
    }

    /// Newest first, as `docker ps` lists them.
    public func list(all: Bool) -> [ContainerRecord] {
        store.all().map(refreshed).filter { all || $0.state.status == .running || Self.isRestarting($0) }
    }

    // MARK: rm

    /// Removes a container and everything it holds. With `force`, a failing CNI
    /// DEL does not stop the removal; its error is appended to `warnings`.
    public func remove(_ ref: String, force: Bool, volumes removeVolumes: Bool = false, warnings: inout [String]) throws {
        var record: ContainerRecord
        do {
            record = try get(ref)
        } catch let error as StateError {
            // Unreadable or gone (a folder deleted by hand): with -f, what is left of it goes.
            switch error {
            case .unreadable, .noSuchContainer: break
            default: throw error
            }
            guard force, let left = leftovers(of: (try? store.resolve(ref)) ?? ref) else { throw error }
            warnings += release(left).map { "container \(left.id.prefix(12)): \($0)" }
            return
        }
        let restarting = Self.isRestarting(record)
        if restarting && !force { throw ContainerError.restarting(record.name) }
        if force {
            // A start under way finishes recording first; then no restart policy
            // (and no start that follows) may bring it back while it is removed.
            _ = try store.withStartLock(record.id) { _ = try? markStoppedByUser(record) }
            // Waiting to restart: its supervisor, woken, finds it stopped and goes, before the folder does.
            if restarting { endRestartWait(record) }
            record = (try? get(record.id)) ?? record
        }
        if record.state.status == .running {
            guard force else { throw ContainerError.running(record.name) }
            services.withdraw(&record)
            let initProcess = ContainerProcess(pid: record.state.pid, startTime: record.state.pidStartTime)
            // Dead as soon as the kernel says so, or its supervisor or runner recorded the exit.
            func stillRunning() -> Bool {
                initProcess.isAlive && (try? store.load(record.id))?.state.status == .running
            }
            // Bounded wait for the kernel to tear the container down (SIGKILL is
            // repeated: under load the first may land before the init is fully set up).
            var waited = 0.0
            while stillRunning() && waited < 60 {
                initProcess.signal(SIGKILL)
                // A paused (frozen) container dies only once thawed under cgroup v1's freezer.
                if let cg = Self.cgroup(of: record), cg.isFrozen() { try? cg.setFrozen(false) }
                _ = initProcess.waitForExit(seconds: 0.5)
                waited += 0.5
            }
            if stillRunning() {
                throw ContainerError.stillAlive("\(record.name)\" (pid \(record.state.pid), \(initProcess.whereStuck))")
            }
            // A detached container's supervisor now tears down and records the exit:
            // let it finish rather than race it (two DELs at once confuse plugins).
            let s = record.state
            if s.detached {
                _ = ContainerProcess(pid: s.supervisorPid, startTime: s.supervisorStartTime).waitForExit(seconds: 30)
            }
        }
        // The runner (if it is still alive) may be detaching at the same moment:
        // CNI DEL is idempotent, and the pin is removed only after DEL succeeded.
        let current = (try? store.load(record.id)) ?? record
        let report = try release(current, ending: .remove(keepingVolumes: !removeVolumes), force: force)
        warnings += report.warnings.map { "container \(record.name): \($0)" }
    }

    // MARK: cgroup

    /// Compiled seccomp programs, by profile (see Engine.filter).
    var seccompCache: String { store.root + "/.seccomp" }

    static func cgroup(of r: ContainerRecord) -> Cgroup? {
        guard let path = r.hostConfig.security?.cgroupsPath, !path.isEmpty else { return nil }
        return Cgroup(path: path)
    }

}
