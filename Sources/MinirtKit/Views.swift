import FoundationEssentials
import MinirtState

/// `minirt inspect`'s JSON: Docker's keys and shapes, derived from the record.
public struct InspectView: Encodable {
    var Id: String
    var Created: String
    var Path: String
    var Args: [String]
    var State: StateView
    var Image: String
    var ResolvConfPath = ""
    var HostnamePath = ""
    var HostsPath = ""
    var LogPath = ""
    var Name: String
    var RestartCount = 0
    var Driver = "overlay"
    var Platform = "linux"
    var HostConfig: HostConfigView
    /// inspect --size only.
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    var GraphDriver: GraphDriverView
    var Mounts: [MountView] = []
    var Config: ConfigView
    var NetworkSettings: NetworkSettingsView

    struct StateView: Encodable {
        var Status: String
        var Running: Bool
        var Paused = false
        var Restarting = false
        var OOMKilled: Bool
        var Dead: Bool
        var Pid: Int32
        var ExitCode: Int32
        var Error: String
        var StartedAt: String
        var FinishedAt: String
        /// minirt's: the supervisor of a detached container (0 for foreground runs).
        var SupervisorPid: Int32
        var Health: HealthView?
    }

    struct HealthView: Encodable {
        var Status: String
        var FailingStreak: Int
        var Log: [HealthResultView]
    }

    struct HealthResultView: Encodable {
        var Start: String
        var End: String
        var ExitCode: Int32
        var Output: String
    }

    struct HostConfigView: Encodable {
        var NetworkMode: String
        var AutoRemove: Bool
        /// "" (the host's ids) or "auto" (a range of its own, as podman shows it).
        var UsernsMode = ""
        var Privileged = false
        var CapAdd: [String]?
        var CapDrop: [String]?
        var SecurityOpt: [String]?
        var ReadonlyRootfs = false
        var Binds: [String]?
        var Tmpfs: [String: String]?
        var GroupAdd: [String]?
        var Memory: Int64 = 0
        var MemorySwap: Int64 = 0
        var NanoCpus: Int64 = 0
        var CpuShares: Int64 = 0
        var PidsLimit: Int64?
        var CpusetCpus = "", CpusetMems = ""
        var CpuPeriod: Int64 = 0, CpuQuota: Int64 = 0, CpuRealtimePeriod: Int64 = 0, CpuRealtimeRuntime: Int64 = 0
        var BlkioWeight: UInt16 = 0
        var BlkioWeightDevice: [DeviceRateView] = []
        var BlkioDeviceReadBps: [DeviceRateView] = [], BlkioDeviceWriteBps: [DeviceRateView] = []
        var BlkioDeviceReadIOps: [DeviceRateView] = [], BlkioDeviceWriteIOps: [DeviceRateView] = []
        var MemoryReservation: Int64 = 0
        var MemorySwappiness: Int64?
        var OomKillDisable = false
        var CgroupParent = ""
        var Devices: [DeviceView] = []
        var DeviceCgroupRules: [String]?
        var VolumesFrom: [String]?
        /// docker's: null unless --init was given.
        var Init = Nullable<Bool>()
        var LogConfig = LogConfigView()
        var PortBindings: [String: [HostPort]]
        var Dns: [String]
        var DnsSearch: [String]
        var DnsOptions: [String]
        var ExtraHosts: [String]
        var RestartPolicy: RestartPolicyView
    }

    /// A value docker shows as null when unset (Swift's encoding would leave the key out).
    struct Nullable<T: Encodable>: Encodable {
        var value: T?
        init(_ value: T? = nil) { self.value = value }
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if let value { try c.encode(value) } else { try c.encodeNil() }
        }
    }

    struct LogConfigView: Encodable {
        var `Type` = "json-file"
        var Config: [String: String] = [:]
    }

    struct DeviceView: Encodable {
        var PathOnHost: String
        var PathInContainer: String
        var CgroupPermissions: String
    }

    struct DeviceRateView: Encodable {
        var Path: String
        var Rate: UInt64
    }

    struct MountView: Encodable {
        var `Type`: String
        /// Named volumes: their name and driver, as docker shows them.
        var Name: String?
        var Driver: String?
        var Source: String
        var Destination: String
        var Mode: String
        var RW: Bool
        var Propagation: String
    }

    struct RestartPolicyView: Encodable {
        var Name = "no"
        var MaximumRetryCount = 0
    }

    struct GraphDriverView: Encodable {
        var Name = "overlay"
        var Data: [String: String]
    }

    struct ConfigView: Encodable {
        var Hostname: String
        var Domainname = ""
        var User: String
        var AttachStdin: Bool
        var AttachStdout = true
        var AttachStderr = true
        var ExposedPorts: [String: EmptyObject]?
        var Tty: Bool
        var OpenStdin: Bool
        var StdinOnce: Bool
        var Env: [String]
        var Cmd: [String]?
        var Image: String
        var WorkingDir: String
        var Entrypoint: [String]?
        var Labels: [String: String]
        var StopSignal: String?
        var StopTimeout: Int?
        var Healthcheck: HealthConfig?
    }

    struct HostPort: Encodable {
        var HostIp: String
        var HostPort: String
    }

    struct NetworkSettingsView: Encodable {
        var Bridge = ""
        var SandboxKey: String
        var HostInterface = ""
        var Ports: [String: [HostPort]]
        var Gateway = ""
        var IPAddress = ""
        var IPPrefixLen = 0
        var MacAddress = ""
        var GlobalIPv6Address = ""
        var GlobalIPv6PrefixLen = 0
        var IPv6Gateway = ""
        var LinkLocalIPv6Address = ""
        var Networks: [String: EndpointView]
    }

    struct EndpointView: Encodable {
        var IPAMConfig: IPAMConfigView?
        var Aliases: [String]?
        var NetworkID: String
        var EndpointID = ""
        var Gateway = ""
        var IPAddress = ""
        var IPPrefixLen = 0
        var IPv6Gateway = ""
        var GlobalIPv6Address = ""
        var GlobalIPv6PrefixLen = 0
        var MacAddress = ""
        /// The interface inside the container (minirt's: docker does not show it).
        var InterfaceName: String?
    }

    struct IPAMConfigView: Encodable {
        var IPv4Address: String?
        var IPv6Address: String?
    }

    static func ports(_ bindings: [PortBinding]) -> [String: [HostPort]] {
        var out: [String: [HostPort]] = [:]
        for b in bindings {
            out[b.containerKey, default: []].append(HostPort(HostIp: b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP, HostPort: String(b.hostPort)))
        }
        return out
    }

    public init(_ r: ContainerRecord, directory: String) {
        let s = r.state
        Id = r.id
        Created = r.created.rfc3339
        Path = r.path
        Args = r.args
        let paused = Containers.isPaused(r)
        // Restarting counts as running, as docker's state has it (rm and start treat it so).
        let restarting = Containers.isRestarting(r)
        State = StateView(
            Status: paused ? "paused" : restarting ? "restarting" : s.status.rawValue, Running: s.status == .running || restarting, Paused: paused, Restarting: restarting, OOMKilled: s.oomKilled,
            Dead: s.status == .dead, Pid: s.status == .running ? s.pid : 0, ExitCode: s.exitCode,
            Error: s.error, StartedAt: s.startedAt.rfc3339, FinishedAt: s.finishedAt.rfc3339,
            SupervisorPid: (s.status == .running || restarting) && s.detached ? s.supervisorPid : 0)
        State.Health = s.health.map { h in
            HealthView(Status: h.status, FailingStreak: h.failingStreak, Log: h.log.map {
                HealthResultView(Start: $0.start.rfc3339, End: $0.end.rfc3339, ExitCode: $0.exitCode, Output: $0.output)
            })
        }
        RestartCount = s.restartCount
        Image = r.image
        Name = "/" + r.name
        let h = r.hostConfig
        HostConfig = HostConfigView(NetworkMode: h.networkMode, AutoRemove: h.autoRemove, PortBindings: Self.ports(h.portBindings),
                                    Dns: h.dns, DnsSearch: h.dnsSearch, DnsOptions: h.dnsOptions, ExtraHosts: h.extraHosts,
                                    RestartPolicy: RestartPolicyView(Name: h.restartPolicy.name, MaximumRetryCount: h.restartPolicy.maximumRetryCount))
        HostConfig.Init = Nullable(h.initProcess)
        HostConfig.UsernsMode = h.userNamespace == nil ? "" : "auto"
        if let l = h.logConfig { HostConfig.LogConfig = LogConfigView(Type: l.type, Config: l.config) }
        if let sec = h.security {
            HostConfig.Privileged = sec.privileged
            HostConfig.Devices = (sec.devices ?? []).map { DeviceView(PathOnHost: $0.pathOnHost, PathInContainer: $0.pathInContainer, CgroupPermissions: $0.cgroupPermissions) }
            HostConfig.DeviceCgroupRules = sec.deviceCgroupRules
            HostConfig.VolumesFrom = sec.volumesFrom
            HostConfig.CgroupParent = sec.cgroupParent ?? ""
            HostConfig.CapAdd = sec.capAdd.isEmpty ? nil : sec.capAdd
            HostConfig.CapDrop = sec.capDrop.isEmpty ? nil : sec.capDrop
            HostConfig.SecurityOpt = sec.securityOpt.isEmpty ? nil : sec.securityOpt
            HostConfig.ReadonlyRootfs = sec.readonlyRootfs
            HostConfig.Binds = sec.binds.isEmpty ? nil : sec.binds
            HostConfig.Tmpfs = sec.tmpfs.isEmpty ? nil : sec.tmpfs
            HostConfig.GroupAdd = sec.groupAdd.isEmpty ? nil : sec.groupAdd
            HostConfig.Memory = sec.memory
            HostConfig.MemorySwap = sec.memorySwap
            HostConfig.NanoCpus = sec.nanoCpus
            HostConfig.CpuShares = sec.cpuShares
            HostConfig.PidsLimit = sec.pidsLimit > 0 ? sec.pidsLimit : nil
            if let l = sec.limits {
                func rates(_ list: [ContainerRecord.DeviceRate]) -> [DeviceRateView] { list.map { DeviceRateView(Path: $0.path, Rate: $0.rate) } }
                HostConfig.CpusetCpus = l.cpusetCpus
                HostConfig.CpusetMems = l.cpusetMems
                HostConfig.CpuPeriod = l.cpuPeriod
                HostConfig.CpuQuota = l.cpuQuota
                HostConfig.CpuRealtimePeriod = l.cpuRealtimePeriod
                HostConfig.CpuRealtimeRuntime = l.cpuRealtimeRuntime
                HostConfig.BlkioWeight = l.blkioWeight
                HostConfig.BlkioWeightDevice = rates(l.blkioWeightDevice)
                HostConfig.BlkioDeviceReadBps = rates(l.blkioDeviceReadBps)
                HostConfig.BlkioDeviceWriteBps = rates(l.blkioDeviceWriteBps)
                HostConfig.BlkioDeviceReadIOps = rates(l.blkioDeviceReadIOps)
                HostConfig.BlkioDeviceWriteIOps = rates(l.blkioDeviceWriteIOps)
                HostConfig.MemoryReservation = l.memoryReservation
                HostConfig.MemorySwappiness = l.memorySwappiness
                HostConfig.OomKillDisable = l.oomKillDisable
            }
            Mounts = sec.mounts.map {
                MountView(Type: $0.type, Name: $0.type == "volume" ? URL(fileURLWithPath: $0.source).deletingLastPathComponent().lastPathComponent : nil,
                          Driver: $0.type == "volume" ? "local" : nil,
                          Source: $0.source, Destination: $0.destination, Mode: $0.mode, RW: $0.rw, Propagation: $0.propagation)
            }
        }
        ResolvConfPath = r.resolvConfPath
        // The json-file (or local) log, as docker names it; none: no file.
        LogPath = r.hostConfig.logConfig?.type == "none" ? "" : "\(directory)/container.log"
        HostnamePath = r.hostnamePath
        HostsPath = r.hostsPath
        GraphDriver = GraphDriverView(Data: [
            "LowerDir": r.rootfs, "UpperDir": "\(directory)/upper",
            "WorkDir": "\(directory)/work", "MergedDir": "\(directory)/rootfs",
        ])
        let c = r.config
        Config = ConfigView(
            Hostname: c.hostname, User: c.user, AttachStdin: c.openStdin,
            ExposedPorts: c.exposedPorts.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, EmptyObject()) }) },
            Tty: c.tty, OpenStdin: c.openStdin, StdinOnce: c.openStdin, Env: c.env, Cmd: c.cmd,
            Image: c.image, WorkingDir: c.workingDir, Entrypoint: c.entrypoint, Labels: c.labels,
            StopSignal: c.stopSignal, StopTimeout: c.stopTimeout, Healthcheck: c.healthcheck)
        let mode = r.hostConfig.networkMode
        let running = s.status == .running
        if let n = r.network {
            var endpoints: [String: EndpointView] = [:]
            for a in r.attachments {
                let asked = a.requestedIP != nil || a.requestedIP6 != nil
                endpoints[a.network] = EndpointView(IPAMConfig: asked ? IPAMConfigView(IPv4Address: a.requestedIP, IPv6Address: a.requestedIP6) : nil,
                                                    Aliases: a.aliases.isEmpty ? nil : a.aliases,
                                                    NetworkID: a.network, EndpointID: a.hostInterface, Gateway: a.gateway,
                                                    IPAddress: a.ipAddress, IPPrefixLen: a.prefixLength,
                                                    IPv6Gateway: a.ipv6Gateway ?? "", GlobalIPv6Address: a.ipv6Address ?? "",
                                                    GlobalIPv6PrefixLen: a.ipv6PrefixLength ?? 0, MacAddress: a.macAddress,
                                                    InterfaceName: a.ifName)
            }
            NetworkSettings = NetworkSettingsView(
                Bridge: n.bridge, SandboxKey: n.netnsPath, HostInterface: n.hostInterface, Ports: Self.ports(h.portBindings),
                Gateway: n.gateway, IPAddress: n.ipAddress, IPPrefixLen: n.prefixLength, MacAddress: n.macAddress,
                GlobalIPv6Address: n.ipv6Address ?? "", GlobalIPv6PrefixLen: n.ipv6PrefixLength ?? 0, IPv6Gateway: n.ipv6Gateway ?? "",
                LinkLocalIPv6Address: n.ipv6Address == nil ? "" : IPv6Subnet.linkLocal(mac: n.macAddress),
                Networks: endpoints)
        } else if !h.endpoints.isEmpty {
            // Not running: the networks it joins at its next start, as docker shows them.
            NetworkSettings = NetworkSettingsView(
                SandboxKey: "", Ports: [:],
                Networks: Dictionary(h.endpoints.map { e in
                    (e.network, EndpointView(IPAMConfig: e.ip != nil || e.ip6 != nil ? IPAMConfigView(IPv4Address: e.ip, IPv6Address: e.ip6) : nil,
                                             Aliases: e.aliases.isEmpty ? nil : e.aliases,
                                             NetworkID: e.network))
                }, uniquingKeysWith: { a, _ in a }))
        } else {
            NetworkSettings = NetworkSettingsView(
                SandboxKey: running && mode != "host" ? "/proc/\(s.pid)/ns/net" : "", Ports: [:],
                Networks: [mode: EndpointView(NetworkID: mode)])
        }
    }
}

/// One row of `minirt ls`, in `docker ps`'s words.
public struct PsRow: Encodable, Equatable {
    public var ID: String
    public var Image: String
    public var Command: String
    public var CreatedAt: String
    public var RunningFor: String
    public var Ports = ""
    public var State: String
    public var Status: String
    public var Names: String
    public var Networks: String
    /// With ls -s: docker's "WRITABLE (virtual WRITABLE+IMAGE)".
    public var Size: String?

    public init(_ r: ContainerRecord, now: Timestamp, truncate: Bool = true) {
        ID = truncate ? r.shortID : r.id
        Image = r.image
        let command = ([r.path] + r.args).joined(separator: " ")
        Command = Self.quote(truncate && command.count > 20 ? String(command.prefix(20)) + "…" : command)
        CreatedAt = r.created.rfc3339
        RunningFor = humanDuration(now, since: r.created) + " ago"
        let paused = Containers.isPaused(r)
        State = Containers.stateName(r, paused: paused)
        switch r.state.status {
        case .running:
            Status = "Up " + humanDuration(now, since: r.state.startedAt) + (paused ? " (Paused)" : "")
            // docker's: "(health: starting)", "(healthy)", "(unhealthy)".
            if let h = r.state.health?.status { Status += h == MinirtState.Health.starting ? " (health: starting)" : " (\(h))" }
        case .exited:
            Status = (State == "restarting" ? "Restarting" : "Exited") + " (\(r.state.exitCode)) " + humanDuration(now, since: r.state.finishedAt) + " ago"
        case .created: Status = "Created"
        case .removing: Status = "Removal In Progress"
        case .dead: Status = "Dead"
        }
        Names = r.name
        Networks = r.hostConfig.networkMode
        Ports = r.hostConfig.portBindings.map { b in
            "\(b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP):\(b.hostPort)->\(b.containerKey)"
        }.joined(separator: ", ")
    }

    /// A container folder whose state cannot be read: shown, not hidden, with the way out.
    public init(brokenID id: String, truncate: Bool = true) {
        ID = truncate ? String(id.prefix(12)) : id
        Image = ""
        Command = ""
        CreatedAt = ""
        RunningFor = ""
        State = "dead"
        Status = "Broken (state unreadable: minirt rm -f \(id.prefix(12)))"
        Names = ""
        Networks = ""
    }

    public static func quote(_ s: String) -> String {
        "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }

    public static let headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    public var cells: [String] { [ID, Image, Command, RunningFor, Status, Ports, Names] }
}

/// Docker's (go-units) HumanDuration: "Less than a second", "About a minute", "3 hours".
public func humanDuration(_ now: Timestamp, since: Timestamp) -> String {
    let d = max(0, now.seconds - since.seconds)
    let seconds = Int(d)
    if seconds < 1 { return "Less than a second" }
    if seconds == 1 { return "1 second" }
    if seconds < 60 { return "\(seconds) seconds" }
    let minutes = Int(d / 60)
    if minutes == 1 { return "About a minute" }
    if minutes < 60 { return "\(minutes) minutes" }
    let hours = Int(d / 3600 + 0.5)
    if hours == 1 { return "About an hour" }
    if hours < 48 { return "\(hours) hours" }
    if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
    if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
    if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
    return "\(Int(d / 3600 / 24 / 365)) years"
}

/// Columns padded like Go's tabwriter in `docker ps` (min width 10, padding 3).
public func formatTable(_ rows: [[String]]) -> String {
    guard let columns = rows.first?.count else { return "" }
    var widths = [Int](repeating: 0, count: columns)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    var out = ""
    for row in rows {
        var line = ""
        for (i, cell) in row.enumerated() {
            if i == columns - 1 { line += cell } else {
                let w = max(10, widths[i] + 3)
                line += cell + String(repeating: " ", count: w - cell.count)
            }
        }
        while line.hasSuffix(" ") { line.removeLast() }
        out += line + "\n"
    }
    return out
}
