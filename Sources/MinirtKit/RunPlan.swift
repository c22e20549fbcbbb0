import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import MinirtEngine
import MinirtState

/// What the user asked `minirt run` for, before anything is checked.
public struct RunOptions: Sendable {
    public var image: String
    public var command: [String] = []
    public var name: String?
    public var hostname: String?
    public var env: [String] = []
    public var envFiles: [String] = []
    public var workdir: String?
    /// nil keeps the image's entrypoint; "" clears it.
    public var entrypoint: String?
    public var network: String = Networks.defaultName
    /// --network given again: more CNI networks, eth1, eth2, … in order.
    public var moreNetworks: [String] = []
    public var publish: [String] = []
    public var publishAll = false
    public var dns: [String] = []
    public var dnsSearch: [String] = []
    public var dnsOptions: [String] = []
    public var addHosts: [String] = []
    public var networkAliases: [String] = []
    /// --link NAME[:ALIAS].
    public var links: [String] = []
    /// --ip and --mac-address.
    public var ip: String?
    /// --ip6, on a dual-stack network.
    public var ip6: String?
    public var macAddress: String?
    public var autoRemove = false
    public var interactive = false
    public var tty = false
    public var confinement = ConfinementOptions()
    /// docker's `--sysctl K=V`, `--ulimit NAME=SOFT[:HARD]`, `--oom-score-adj N`, `--domainname D`.
    public var sysctls: [String] = []
    public var ulimits: [String] = []
    public var oomScoreAdj: Int?
    public var domainname: String?
    /// `--label K=V` and the lines of `--label-file` (already read), over the image's.
    public var labels: [String] = []
    public var stopSignal: String?
    public var stopTimeout: Int?
    public var shmSize: String?
    /// OCI annotations (`--annotation K=V`).
    public var annotations: [String] = []
    public var expose: [String] = []
    public var labelFiles: [String] = []
    /// docker's --uts host, --ipc host|private, --cgroupns host|private (nil: private).
    public var uts: String?
    public var ipc: String?
    /// --pid host|container:NAME (nil: private).
    public var pid: String?
    /// container:NAME of --pid and --ipc, resolved to the namespace's path (by the container store).
    public var joinedNamespaces: [String: String] = [:]
    public var cgroupns: String?
    /// docker's --cidfile: the id is written there once the container exists.
    public var cidfile: String?
    /// --health-cmd, --health-interval/-timeout/-start-period/-start-interval (Go
    /// durations), --health-retries, --no-healthcheck.
    public var healthCmd: String?
    public var healthInterval: String?
    public var healthTimeout: String?
    public var healthStartPeriod: String?
    public var healthStartInterval: String?
    public var healthRetries: Int?
    public var noHealthcheck = false
    /// -a/--attach: the streams a foreground run shows (empty: all of them).
    public var attach: [String] = []
    /// --detach-keys: kept for `attach`.
    public var detachKeys: String?
    /// --sig-proxy=false: signals to minirt run stay with it.
    public var sigProxy = true
    /// --userns: host (the default) or auto (a range of its own: `usernsRange`, taken by Containers).
    public var userns: String?
    public var usernsRange: ContainerRecord.UserNamespaceRange?
    /// --log-driver, --log-opt KEY=VALUE.
    public var logDriver: String?
    public var logOptions: [String] = []
    /// --init: the host path of minirt-init, bound read-only into the container as its PID 1.
    public var initBinary: String?

    public init(image: String) { self.image = image }
}

/// docker's `--ulimit` and `--sysctl` forms, as runtime-spec fields.
public enum KernelLimits {
    static let ulimitNames = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                              "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]

    /// `nofile=1024:2048` (hard defaults to soft; -1 is unlimited).
    public static func ulimit(_ s: String) throws -> OCISpec.Rlimit {
        let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, ulimitNames.contains(kv[0]) else {
            throw RunError.invalid("invalid --ulimit \"\(Validate.printable(s))\": write NAME=SOFT[:HARD] with NAME one of \(ulimitNames.joined(separator: ", "))")
        }
        let values = kv[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number(_ v: String) throws -> UInt64 {
            if v == "-1" || v == "unlimited" { return UInt64.max }
            guard let n = UInt64(v) else { throw RunError.invalid("invalid --ulimit \"\(Validate.printable(s))\": \"\(v)\" is not a number (or -1 for unlimited)") }
            return n
        }
        guard values.count <= 2 else { throw RunError.invalid("invalid --ulimit \"\(Validate.printable(s))\": write NAME=SOFT[:HARD]") }
        let soft = try number(values[0])
        let hard = values.count == 2 ? try number(values[1]) : soft
        guard soft <= hard else { throw RunError.invalid("invalid --ulimit \(s): the soft limit is above the hard limit") }
        return OCISpec.Rlimit(type: "RLIMIT_" + kv[0].uppercased(), hard: hard, soft: soft)
    }

    /// `net.ipv4.ip_forward=1`; which names are allowed is the engine's check (Sysctl).
    public static func sysctl(_ s: String) throws -> (String, String) {
        let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[0].isEmpty else { throw RunError.invalid("invalid --sysctl \"\(Validate.printable(s))\": write NAME=VALUE") }
        return (kv[0], kv[1])
    }
}

public enum RunError: Error, CustomStringConvertible, Equatable {
    case noCommand(String)
    case invalid(String)
    case unreadableEnvFile(String)
    case unknownNetwork(String)
    case notRoot

    public var description: String {
        switch self {
        case .noCommand(let image):
            return "no command specified: image \"\(image)\" has no Cmd or Entrypoint; give one after the image"
        case .invalid(let m): return m
        case .unreadableEnvFile(let p): return "cannot read env file \(p): check the path"
        case .unknownNetwork(let n): return "unknown network \"\(n)\": use none, host, bridge, container:NAME or a network from minirt network ls"
        case .notRoot: return "minirt needs root to create namespaces and mounts: run it with sudo"
        }
    }
}

/// docker's long form of `--network`: `name=NET,alias=A,ip=…,ip6=…,mac-address=…`
/// (the short form is the name alone).
public struct NetworkFlag: Equatable, Sendable {
    public var name: String
    public var aliases: [String] = []
    public var ip: String?
    public var ip6: String?
    public var mac: String?

    public init(_ value: String) throws {
        guard value.hasPrefix("name=") || value.contains(",") else { name = value; return }
        var name: String?
        for field in value.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty, Validate.isToken(kv[1]) else {
                throw RunError.invalid("invalid --network \"\(Validate.printable(value))\": write NAME or name=NAME[,alias=A][,ip=IP][,ip6=IP][,mac-address=MAC]")
            }
            switch kv[0] {
            case "name": name = kv[1]
            case "alias": aliases.append(kv[1])
            case "ip": ip = kv[1]
            case "ip6": ip6 = kv[1]
            case "mac-address": mac = kv[1]
            default:
                throw RunError.invalid("invalid --network \"\(Validate.printable(value))\": unknown key \"\(Validate.printable(kv[0]))\" (name, alias, ip, ip6, mac-address)")
            }
        }
        guard let name else { throw RunError.invalid("invalid --network \"\(Validate.printable(value))\": name=NET is missing") }
        self.name = name
    }

    /// Whether it carries settings of its own (then none, host and container: cannot take it).
    var hasSettings: Bool { !aliases.isEmpty || ip != nil || ip6 != nil || mac != nil }
}

/// What `--network` asked for, before anything is looked up.
public enum NetworkMode: Equatable, Sendable {
    case none, host
    /// A CNI network by name; `bridge` is the default one.
    case cni(String)
    /// Join another container's network namespace (the pod model).
    case container(String)

    public init(_ s: String) throws {
        switch s {
        case "none": self = .none
        case "host": self = .host
        case "", "bridge", "default": self = .cni(Networks.defaultName)
        default:
            if s.hasPrefix("container:") {
                let ref = String(s.dropFirst("container:".count))
                guard !ref.isEmpty else { throw RunError.invalid("--network container: needs a container name: container:NAME") }
                self = .container(ref)
            } else {
                guard StateStore.isValidName(s) else { throw RunError.unknownNetwork(s) }
                self = .cni(s)
            }
        }
    }
}

/// The network a container gets, resolved: namespaces to create or join.
public enum NetworkChoice: Sendable, Equatable {
    case none, host
    case cni(name: String, netns: String)
    case container(id: String, netns: String)

    /// Docker's `HostConfig.NetworkMode`.
    public var modeName: String {
        switch self {
        case .none: return "none"
        case .host: return "host"
        case .cni(let name, _): return name
        case .container(let id, _): return "container:\(id)"
        }
    }
}

/// Environment handling, as `docker run` does it.
public enum EnvParser {
    /// `K=V` as is; `K` alone takes the host's value, or is dropped when unset.
    public static func parse(_ item: String, host: [String: String]) throws -> String? {
        let name = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard !name.isEmpty else {
            throw RunError.invalid("invalid environment variable \"\(item)\": the name before '=' is empty; write NAME=VALUE")
        }
        guard !name.contains(where: { $0 == " " || $0 == "\t" || $0 == "\0" }) else {
            throw RunError.invalid("invalid environment variable \"\(item)\": the name contains whitespace; write NAME=VALUE")
        }
        if item.contains("=") { return item }
        return host[String(name)].map { "\(name)=\($0)" }
    }

    /// Lines of an env file: blank lines and `#` comments are skipped.
    public static func parseFile(_ text: String, host: [String: String]) throws -> [String] {
        try text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { return nil }
            return try parse(String(line), host: host)
        }
    }

    /// Later entries win over earlier ones with the same name; order of first appearance is kept.
    public static func merge(_ lists: [String]...) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        for item in lists.joined() {
            let key = String(item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0])
            if values[key] == nil { order.append(key) }
            values[key] = item
        }
        return order.map { values[$0]! }
    }
}

/// The --health-* flags over the image's Healthcheck, checked as docker checks them.
enum HealthFlags {
    static func merge(_ o: RunOptions, image: HealthConfig?) throws -> HealthConfig? {
        let durations = [("--health-interval", o.healthInterval), ("--health-timeout", o.healthTimeout),
                         ("--health-start-period", o.healthStartPeriod), ("--health-start-interval", o.healthStartInterval)]
        let anyFlag = o.healthCmd != nil || o.healthRetries != nil || durations.contains { $0.1 != nil }
        if o.noHealthcheck {
            guard !anyFlag else { throw RunError.invalid("--no-healthcheck conflicts with --health-* options: give one or the other") }
            return HealthConfig(Test: ["NONE"])
        }
        guard anyFlag else { return image }
        var h = image ?? HealthConfig()
        if let cmd = o.healthCmd {
            guard !cmd.isEmpty else { throw RunError.invalid("--health-cmd is empty: give a shell command such as 'curl -f http://localhost/'") }
            h.Test = ["CMD-SHELL", cmd]
        }
        var values: [Int64?] = []
        for (flag, text) in durations {
            guard let text else { values.append(nil); continue }
            guard let ns = GoDuration.parse(text) else {
                throw RunError.invalid("invalid \(flag) \(Validate.printable(text)): give a duration such as 30s, 1m30s or 500ms")
            }
            // docker: a duration is 0 (the default) or at least 1ms.
            guard ns == 0 || ns >= 1_000_000 || flag == "--health-start-period" else {
                throw RunError.invalid("invalid \(flag) \(text): it cannot be less than 1ms")
            }
            values.append(ns)
        }
        if let v = values[0] { h.Interval = v }
        if let v = values[1] { h.Timeout = v }
        if let v = values[2] { h.StartPeriod = v }
        if let v = values[3] { h.StartInterval = v }
        if let r = o.healthRetries {
            guard r >= 0 else { throw RunError.invalid("invalid --health-retries \(r): it cannot be negative") }
            h.Retries = r
        }
        guard h.isActive else {
            throw RunError.invalid("--health-* options need a check: give --health-cmd (the image has none)")
        }
        return h
    }
}

/// A container ready to be created: its record and the OCI spec the engine runs.
public struct RunPlan: Sendable {
    public var record: ContainerRecord
    public var spec: OCISpec
    /// The image's own root (the record's rootfs is a shifted copy of it with --userns auto).
    public var imageRootfs = ""

    public static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Turns options and an image into a plan. Pure: checks everything that can be
    /// checked before any state exists, so bad input leaves nothing behind.
    public static func make(_ o: RunOptions, image: Image, id: String, name: String, directory: String,
                            network: NetworkChoice = .none, ports: [PortBinding] = [],
                            hostEnv: [String: String], hostHostname: String,
                            readFile: (String) -> String? = { p in FileManager.default.contents(atPath: p).map { String(decoding: $0, as: UTF8.self) } }
    ) throws -> RunPlan {
        try Validate.runOptions(o)
        var entrypoint = image.config.Entrypoint ?? []
        var cmd = image.config.Cmd ?? []
        if let e = o.entrypoint {
            // Like docker: --entrypoint replaces the image's and drops its Cmd.
            entrypoint = e.isEmpty ? [] : [e]
            cmd = []
        }
        if !o.command.isEmpty { cmd = o.command }
        let argv = entrypoint + cmd
        guard let path = argv.first else { throw RunError.noCommand(image.name) }

        var userEnv: [String] = []
        for file in o.envFiles {
            guard let text = readFile(file) else { throw RunError.unreadableEnvFile(file) }
            userEnv += try EnvParser.parseFile(text, host: hostEnv)
        }
        for item in o.env { if let v = try EnvParser.parse(item, host: hostEnv) { userEnv.append(v) } }

        let imageEnv = image.config.Env ?? []
        let hasPath = (imageEnv + userEnv).contains { $0.hasPrefix("PATH=") }
        let configEnv = EnvParser.merge(hasPath ? [] : [defaultPath], o.tty ? ["TERM=xterm"] : [], imageEnv, userEnv)

        let hostname = o.hostname ?? (network == .host || o.uts == "host" ? hostHostname : String(id.prefix(12)))
        let processEnv = EnvParser.merge(["HOSTNAME=\(hostname)"], configEnv)
        let workdir = o.workdir ?? (image.config.WorkingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
        guard workdir.hasPrefix("/") else {
            throw RunError.invalid("the working directory \"\(workdir)\" is not absolute: give a path starting with /")
        }

        var config = ContainerRecord.Config(hostname: hostname, image: o.image)
        config.env = configEnv
        config.cmd = cmd.isEmpty ? nil : cmd
        config.entrypoint = entrypoint.isEmpty ? nil : entrypoint
        config.workingDir = o.workdir ?? image.config.WorkingDir ?? ""
        config.tty = o.tty
        config.openStdin = o.interactive
        config.stopSignal = image.config.StopSignal
        config.user = image.config.User ?? ""
        config.exposedPorts = image.config.ExposedPorts.map { $0.keys.sorted() }
        config.labels = image.config.Labels ?? [:]
        var labelLines: [String] = []
        for file in o.labelFiles {
            guard let text = readFile(file) else {
                throw RunError.invalid("cannot read label file \(file): check the path")
            }
            labelLines += text.split(separator: "\n").map { $0.trimmed() }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        for l in labelLines + o.labels {
            let kv = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let key = kv.first, !key.isEmpty, Validate.isToken(key) else {
                throw RunError.invalid("invalid label \"\(Validate.printable(l))\": write KEY=VALUE (the key without spaces)")
            }
            config.labels[key] = kv.count > 1 ? kv[1] : ""
        }
        config.healthcheck = try HealthFlags.merge(o, image: image.config.Healthcheck)
        if let keys = o.detachKeys {
            _ = try DetachKeys.parse(keys)
            config.detachKeys = keys
        }
        if let sig = o.stopSignal {
            _ = try SignalName.parse(sig)
            config.stopSignal = sig
        }
        if let t = o.stopTimeout {
            guard t >= -1 else { throw RunError.invalid("invalid --stop-timeout \(t): give seconds, or -1 to wait for ever") }
            config.stopTimeout = t
        }
        for e in o.expose {
            for b in try PortSpec.parse(e) where b.hostPort == 0 && b.hostIP.isEmpty {
                let key = "\(b.containerPort)/\(b.proto)"
                if !(config.exposedPorts ?? []).contains(key) { config.exposedPorts = (config.exposedPorts ?? []) + [key] }
            }
        }

        var host = ContainerRecord.HostConfig(networkMode: network.modeName)
        host.autoRemove = o.autoRemove
        host.portBindings = ports
        host.dns = o.dns
        host.dnsSearch = o.dnsSearch
        host.dnsOptions = o.dnsOptions
        host.extraHosts = o.addHosts
        host.initProcess = o.initBinary != nil ? true : nil
        host.logConfig = try LogOptions.parse(driver: o.logDriver, options: o.logOptions)
        for a in o.attach where !["stdin", "stdout", "stderr"].contains(a.lowercased()) {
            throw RunError.invalid("invalid -a/--attach \(Validate.printable(a)): use stdin, stdout or stderr")
        }
        if let u = o.userns, !["", "host", "auto"].contains(u) {
            throw RunError.invalid("invalid --userns \(Validate.printable(u)): use host (the default) or auto (ids 0-65535 of the container are host ids no other container has)")
        }
        let userRange = o.userns == "auto" ? o.usernsRange : nil
        if userRange != nil {
            // docker's refusals with remapped ids: these share what the host's ids own.
            for (given, what) in [(o.confinement.privileged, "--privileged"), (network == .host, "--network host"),
                                  (o.pid == "host", "--pid host"), (o.ipc == "host", "--ipc host"), (o.uts == "host", "--uts host")] where given {
                throw RunError.invalid("conflicting options: --userns auto and \(what) (the host's namespaces belong to the host's ids): drop one")
            }
        }
        host.userNamespace = userRange
        let lower = userRange == nil ? image.rootfs : "\(directory)/lower"

        var record = ContainerRecord(
            id: id, name: name, created: .now(), image: o.image, rootfs: lower,
            path: path, args: Array(argv.dropFirst()), config: config, hostConfig: host)
        record.hostsPath = "\(directory)/hosts"
        record.hostnamePath = "\(directory)/hostname"
        record.resolvConfPath = "\(directory)/resolv.conf"

        var spec = OCISpec()
        var process = OCISpec.Process()
        process.terminal = o.tty
        process.args = o.initBinary != nil ? [initPath, "--"] + argv : argv
        process.env = processEnv
        process.cwd = workdir
        process.noNewPrivileges = true
        let limits = try o.ulimits.map(KernelLimits.ulimit)
        if let dup = limits.map(\.type).first(where: { t in limits.filter { $0.type == t }.count > 1 }) {
            throw RunError.invalid("--ulimit gives \(dup) twice: give each limit once")
        }
        process.rlimits = limits.isEmpty ? nil : limits
        if let adj = o.oomScoreAdj {
            guard (-1000...1000).contains(adj) else { throw RunError.invalid("invalid --oom-score-adj \(adj): give a value between -1000 and 1000") }
            process.oomScoreAdj = adj
        }
        spec.process = process
        spec.root = OCISpec.Root(path: "\(directory)/rootfs")
        // With the host's UTS namespace there is no name to set (the engine would refuse it).
        spec.hostname = o.uts == "host" ? nil : hostname
        if let d = o.domainname {
            guard o.uts != "host" else { throw RunError.invalid("conflicting options: --domainname and --uts host") }
            guard Validate.isHostName(d, maxLength: 64) else {
                throw RunError.invalid("invalid --domainname \"\(Validate.printable(d))\": use letters, digits, '-' and '.', at most 64 characters")
            }
            spec.domainname = d
        }
        // /etc/hosts, /etc/hostname and /etc/resolv.conf are minirt's files, bound over the image's.
        spec.mounts = OCISpec.defaultMounts() + ["hosts", "hostname", "resolv.conf"].map {
            OCISpec.Mount(destination: "/etc/\($0)", type: "bind", source: "\(directory)/\($0)", options: ["rbind", "rprivate"])
        }
        var linux = OCISpec.Linux()
        // A cgroup namespace of its own: /proc/self/cgroup and /sys/fs/cgroup show
        // the container's cgroup as the root, never the host's tree.
        var shared: Set<String> = []
        for (flag, value, kind, allowed) in [("--uts", o.uts, "uts", ["host"]), ("--ipc", o.ipc, "ipc", ["host", "private", "shareable"]),
                                             ("--cgroupns", o.cgroupns, "cgroup", ["host", "private"]), ("--pid", o.pid, "pid", ["host"])] {
            guard let value else { continue }
            if value.hasPrefix("container:") && o.joinedNamespaces[kind] != nil { continue }
            guard allowed.contains(value) else {
                throw RunError.invalid("invalid \(flag) \"\(Validate.printable(value))\": use \(allowed.joined(separator: " or "))")
            }
            if value == "host" { shared.insert(kind) }
        }
        if shared.contains("uts") && o.hostname != nil {
            throw RunError.invalid("conflicting options: --hostname and --uts host: the host's name is the container's")
        }
        var namespaces = ["pid", "ipc", "uts", "mount", "cgroup"].filter { !shared.contains($0) }
            .map { OCISpec.Namespace(type: $0, path: o.joinedNamespaces[$0]) }
        switch network {
        case .none: namespaces.append(OCISpec.Namespace(type: "network"))
        case .host: break
        case .cni(_, let path), .container(_, let path): namespaces.append(OCISpec.Namespace(type: "network", path: path))
        }
        if let r = userRange {
            namespaces.append(OCISpec.Namespace(type: "user"))
            linux.uidMappings = [OCISpec.IDMapping(containerID: 0, hostID: r.uid, size: r.size)]
            linux.gidMappings = [OCISpec.IDMapping(containerID: 0, hostID: r.gid, size: r.size)]
        }
        linux.namespaces = namespaces
        linux.devices = OCISpec.defaultDevices()
        linux.maskedPaths = OCISpec.defaultMaskedPaths
        linux.readonlyPaths = OCISpec.defaultReadonlyPaths
        if !o.sysctls.isEmpty {
            var sysctl: [String: String] = [:]
            for item in o.sysctls { let (k, v) = try KernelLimits.sysctl(item); sysctl[k] = v }
            // Checked now, before anything exists (the engine checks again against the real namespaces).
            let own = Set(namespaces.map(\.type))
            do { _ = try Sysctl.check(sysctl, namespaces: own) } catch { throw RunError.invalid("--sysctl: \(error)".replacing("invalid runtime spec: linux.sysctl: ", with: "")) }
            linux.sysctl = sysctl
        }
        spec.linux = linux
        var confinement = o.confinement
        confinement.imageVolumes = image.config.Volumes.map { Array($0.keys) } ?? []
        try Confinement.apply(confinement, to: &spec, host: &record.hostConfig, config: &record.config,
                              id: id, imageRootfs: image.rootfs, imageUser: image.config.User)
        var annotations: [String: String] = [:]
        for a in o.annotations {
            let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, Validate.isToken(kv[0]), !kv[0].hasPrefix("org.minirt.") else {
                throw RunError.invalid("invalid --annotation \"\(Validate.printable(a))\": write KEY=VALUE (keys under org.minirt. are minirt's)")
            }
            annotations[kv[0]] = kv[1]
        }
        spec.annotations = annotations.isEmpty ? nil : annotations
        spec.mounts = [OCISpec.rootOverlay(lower: lower, upper: "\(directory)/upper", work: "\(directory)/work")] + (spec.mounts ?? [])
        if let size = o.shmSize {
            let bytes = try ByteSize.parse(size, flag: "--shm-size")
            guard bytes > 0 else { throw RunError.invalid("invalid --shm-size \(size): give a size above 0, such as 64m") }
            spec.mounts = spec.mounts?.map { m in
                guard m.destination == "/dev/shm" else { return m }
                var m = m
                m.options = (m.options ?? []).filter { !$0.hasPrefix("size=") } + ["size=\(bytes)"]
                return m
            }
        }
        if let initBinary = o.initBinary {
            guard access(initBinary, X_OK) == 0 else {
                throw RunError.invalid("--init: \(initBinary) is missing: install minirt-init next to minirt")
            }
            // Last, so that no volume at /sbin hides it; read-only, so nothing inside can rewrite it.
            spec.mounts = (spec.mounts ?? []) + [OCISpec.Mount(destination: initPath, type: "bind", source: initBinary,
                                                               options: ["bind", "ro", "nosuid", "nodev", "rprivate"])]
        }
        return RunPlan(record: record, spec: spec, imageRootfs: image.rootfs)
    }

    /// Where --init's minirt-init appears in the container (docker's is /sbin/docker-init).
    public static let initPath = "/sbin/minirt-init"
}
