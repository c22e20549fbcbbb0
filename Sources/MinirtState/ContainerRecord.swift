/// What minirt remembers about one container: `<root>/<id>/state.json`.
/// Docker's inspect view is derived from it (MinirtKit), never stored twice.
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var created: Timestamp
    /// The image name or rootfs path the user gave.
    public var image: String
    /// The read-only lower directory of the container's overlay.
    public var rootfs: String
    /// The process: Docker's `Path` and `Args`.
    public var path: String
    public var args: [String]
    public var config: Config
    public var hostConfig: HostConfig
    public var state: State
    /// The first CNI attachment (eth0: the default route, the published ports);
    /// nil for none, host and container: modes.
    public var network: NetworkState?
    /// The attachments after the first (eth1, …): several --network, network connect.
    public var moreNetworks: [NetworkState]?
    /// Files minirt wrote for the container and bind-mounts over /etc.
    public var hostsPath = ""
    public var hostnamePath = ""
    public var resolvConfPath = ""

    public init(id: String, name: String, created: Timestamp, image: String, rootfs: String,
                path: String, args: [String], config: Config, hostConfig: HostConfig, state: State = State()) {
        self.id = id; self.name = name; self.created = created; self.image = image; self.rootfs = rootfs
        self.path = path; self.args = args; self.config = config; self.hostConfig = hostConfig; self.state = state
    }

    public var shortID: String { String(id.prefix(12)) }

    /// Every CNI attachment, the first first.
    public var attachments: [NetworkState] {
        get { (network.map { [$0] } ?? []) + (moreNetworks ?? []) }
        set {
            network = newValue.first
            moreNetworks = newValue.count > 1 ? Array(newValue.dropFirst()) : nil
        }
    }

    /// The attachment to a network, by the network's name.
    public func attachment(on network: String) -> NetworkState? {
        attachments.first { $0.network == network }
    }

    /// Docker's container `Config`.
    public struct Config: Codable, Sendable, Equatable {
        public var hostname: String
        public var user: String = ""
        public var env: [String] = []
        public var cmd: [String]?
        public var entrypoint: [String]?
        public var workingDir: String = ""
        public var image: String
        public var tty: Bool = false
        public var openStdin: Bool = false
        public var stopSignal: String?
        /// Seconds `stop` waits before SIGKILL when not told (docker's --stop-timeout).
        public var stopTimeout: Int?
        public var exposedPorts: [String]?
        public var labels: [String: String] = [:]
        /// --detach-keys of run/create: what `attach` takes by default.
        public var detachKeys: String?
        /// The image's Healthcheck with the --health-* flags over it (absent: none).
        public var healthcheck: HealthConfig?

        public init(hostname: String, image: String) { self.hostname = hostname; self.image = image }
    }

    /// Docker's `HostConfig`, the parts minirt implements.
    public struct HostConfig: Codable, Sendable, Equatable {
        public var networkMode: String
        public var autoRemove: Bool = false
        public var portBindings: [PortBinding] = []
        public var dns: [String] = []
        public var dnsSearch: [String] = []
        public var dnsOptions: [String] = []
        public var extraHosts: [String] = []
        public var networkAliases: [String] = []
        /// --ip and --mac-address (absent in older records): the same on every start.
        public var staticIP: String?
        /// Every network joined at each start, in order, as `run` and `network
        /// connect`/`disconnect` left them (absent in older records: networkMode's).
        public var networks: [EndpointConfig]?
        /// --link NAME[:ALIAS] (absent in older records).
        public var links: [String]?
        public var macAddress: String?
        /// --init (absent when not given).
        public var initProcess: Bool?
        /// --userns auto: the host ids its ids 0-65535 are (absent: the host's ids).
        public var userNamespace: UserNamespaceRange?
        /// --log-driver and --log-opt (absent: json-file, unbounded).
        public var logConfig: LogConfig?
        public var restartPolicy = RestartPolicy()
        /// Confinement and resources (absent in records written before they existed).
        public var security: Security?
        public init(networkMode: String) { self.networkMode = networkMode }

        /// The networks joined at start; records without the list join networkMode's.
        public var endpoints: [EndpointConfig] {
            if let networks { return networks }
            guard !["none", "host", ""].contains(networkMode), !networkMode.hasPrefix("container:") else { return [] }
            return [EndpointConfig(network: networkMode, aliases: networkAliases, ip: staticIP, mac: macAddress)]
        }
    }

    /// A user namespace's host ids: container id N is host id uid+N (gid+N), N < size.
    public struct UserNamespaceRange: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var size: UInt32
        public init(uid: UInt32, gid: UInt32, size: UInt32) { self.uid = uid; self.gid = gid; self.size = size }
    }

    /// A network the container joins and how: docker's EndpointSettings as given.
    public struct EndpointConfig: Codable, Sendable, Equatable {
        public var network: String
        public var aliases: [String] = []
        public var ip: String?
        public var ip6: String?
        public var mac: String?
        public init(network: String, aliases: [String] = [], ip: String? = nil, ip6: String? = nil, mac: String? = nil) {
            self.network = network; self.aliases = aliases; self.ip = ip; self.ip6 = ip6; self.mac = mac
        }
    }

    /// docker's HostConfig.LogConfig: the driver and its options as given.
    public struct LogConfig: Codable, Sendable, Equatable {
        public var type: String
        public var config: [String: String]
        public init(type: String, config: [String: String]) { self.type = type; self.config = config }
    }

    /// A --device: docker's HostConfig.Devices entry.
    public struct DeviceMapping: Codable, Sendable, Equatable {
        public var pathOnHost: String
        public var pathInContainer: String
        public var cgroupPermissions: String
        public init(pathOnHost: String, pathInContainer: String, cgroupPermissions: String) {
            self.pathOnHost = pathOnHost; self.pathInContainer = pathInContainer; self.cgroupPermissions = cgroupPermissions
        }
    }

    /// What the container was confined with, for inspect and for exec and stats.
    public struct Security: Codable, Sendable, Equatable {
        public var privileged = false
        public var capAdd: [String] = []
        public var capDrop: [String] = []
        public var securityOpt: [String] = []
        public var readonlyRootfs = false
        public var tmpfs: [String: String] = [:]
        public var binds: [String] = []
        public var mounts: [MountPoint] = []
        public var groupAdd: [String] = []
        public var memory: Int64 = 0
        public var memorySwap: Int64 = 0
        public var nanoCpus: Int64 = 0
        public var cpuShares: Int64 = 0
        public var pidsLimit: Int64 = 0
        /// The container's cgroup, relative to each hierarchy's root.
        public var cgroupsPath = ""
        /// The other resource flags, as `inspect` shows them (absent in older records).
        public var limits: Limits?
        /// --device and --device-cgroup-rule (absent when none were given).
        public var devices: [DeviceMapping]?
        public var deviceCgroupRules: [String]?
        /// --cgroup-parent, as given (absent when not).
        public var cgroupParent: String?
        /// --volumes-from, as given (absent when not).
        public var volumesFrom: [String]?
        public init() {}
    }

    /// docker's resource flags beyond memory, cpus, shares and pids.
    public struct Limits: Codable, Sendable, Equatable {
        public var cpusetCpus = "", cpusetMems = ""
        public var cpuPeriod: Int64 = 0, cpuQuota: Int64 = 0, cpuRealtimePeriod: Int64 = 0, cpuRealtimeRuntime: Int64 = 0
        public var blkioWeight: UInt16 = 0
        public var blkioWeightDevice: [DeviceRate] = []
        public var blkioDeviceReadBps: [DeviceRate] = [], blkioDeviceWriteBps: [DeviceRate] = []
        public var blkioDeviceReadIOps: [DeviceRate] = [], blkioDeviceWriteIOps: [DeviceRate] = []
        public var memoryReservation: Int64 = 0
        public var memorySwappiness: Int64?
        public var oomKillDisable = false
        public init() {}
    }

    /// A device path and its rate or weight (`--device-read-bps /dev/sda:1mb`).
    public struct DeviceRate: Codable, Sendable, Equatable {
        public var path: String
        public var rate: UInt64
        public init(path: String, rate: UInt64) { self.path = path; self.rate = rate }
    }

    /// A volume or tmpfs as `inspect` shows it under `Mounts`.
    public struct MountPoint: Codable, Sendable, Equatable {
        public var type: String
        public var source: String
        public var destination: String
        public var mode: String
        public var rw: Bool
        public var propagation: String
        /// A volume made for this container alone (`-v /path`, the image's Volumes):
        /// removed with it by `rm -v` and `--rm` (absent for every other mount).
        public var anonymous: Bool?
        public init(type: String, source: String, destination: String, mode: String, rw: Bool, propagation: String) {
            self.type = type; self.source = source; self.destination = destination
            self.mode = mode; self.rw = rw; self.propagation = propagation
        }
    }

    /// `--restart no|on-failure[:N]|always|unless-stopped`, carried out by the supervisor.
    public struct RestartPolicy: Codable, Sendable, Equatable {
        public var name = "no"
        public var maximumRetryCount = 0
        public init(name: String = "no", maximumRetryCount: Int = 0) {
            self.name = name; self.maximumRetryCount = maximumRetryCount
        }
    }

    public enum Status: String, Codable, Sendable {
        case created, running, exited, removing, dead
    }

    public struct State: Codable, Sendable, Equatable {
        public var status: Status = .created
        public var pid: Int32 = 0
        /// Start time of `pid` in clock ticks since boot: with the pid it names the
        /// process exactly, so a recycled pid is never taken for the container.
        public var pidStartTime: UInt64 = 0
        public var exitCode: Int32 = 0
        public var error: String = ""
        public var oomKilled: Bool = false
        public var startedAt: Timestamp = .zero
        public var finishedAt: Timestamp = .zero
        /// Set by stop/kill through minirt, so restart policies leave it stopped.
        public var stoppedByUser = false
        public var restartCount = 0
        /// Detached containers have a supervisor; foreground ones their `minirt run`.
        public var detached = false
        /// The supervisor of a detached container (pid and start time), which
        /// records the exit itself while it lives.
        public var supervisorPid: Int32 = 0
        public var supervisorStartTime: UInt64 = 0
        /// Made by `create`: a first start that fails leaves it (with the error), as docker does.
        public var keptWhenStartFails: Bool?
        /// Exited, and its supervisor waits to start it again (the restart policy's
        /// delay): docker's "restarting". Cleared by the next start and by stop.
        public var restarting: Bool?
        /// Health checks' state, from each start of a container that has one.
        public var health: Health?
        public init() {}
    }
}
