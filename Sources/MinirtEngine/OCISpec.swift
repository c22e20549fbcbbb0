// The part of the OCI runtime specification (config.json) that minirt executes.
// Field names follow https://github.com/opencontainers/runtime-spec/blob/main/config.md
// so that a bundle written by minirt runs under runc and vice versa.

public struct OCISpec: Codable, Sendable, Equatable {
    public var ociVersion: String = "1.0.2"
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    public var hooks: Hooks?
    public var annotations: [String: String]?

    public init() {}

    /// Any JSON value, kept only as "it was there".
    public struct Present: Codable, Sendable, Equatable {
        public init(from decoder: Decoder) throws {}
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        }
    }

    public struct Hooks: Codable, Sendable, Equatable {
        public var prestart: [Hook]?
        public var createRuntime: [Hook]?
        public var createContainer: [Hook]?
        public var startContainer: [Hook]?
        public var poststart: [Hook]?
        public var poststop: [Hook]?
    }

    public struct Hook: Codable, Sendable, Equatable {
        public var path: String
        public var args: [String]?
        public var env: [String]?
        public var timeout: Int?
    }

    public struct Process: Codable, Sendable, Equatable {
        public var terminal: Bool?
        public var consoleSize: ConsoleSize?
        public var user: User = User()
        public var args: [String] = []
        public var env: [String]?
        public var cwd: String = "/"
        public var noNewPrivileges: Bool?
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var oomScoreAdj: Int?
        /// Read so that they are refused, not ignored: minirt applies neither.
        public var apparmorProfile: String?
        public var selinuxLabel: String?
        public init() {}
    }

    public struct ConsoleSize: Codable, Sendable, Equatable {
        public var height: UInt32
        public var width: UInt32
        public init(height: UInt32, width: UInt32) { self.height = height; self.width = width }
    }

    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        public var additionalGids: [UInt32]?
        /// The process's umask (runc: 0022 when absent).
        public var umask: UInt32?
        public init(uid: UInt32 = 0, gid: UInt32 = 0, additionalGids: [UInt32]? = nil) {
            self.uid = uid; self.gid = gid; self.additionalGids = additionalGids
        }
    }

    public struct Capabilities: Codable, Sendable, Equatable {
        public var bounding: [String]?
        public var effective: [String]?
        public var inheritable: [String]?
        public var permitted: [String]?
        public var ambient: [String]?
        public init() {}
    }

    public struct Rlimit: Codable, Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
        public init(type: String, hard: UInt64, soft: UInt64) { self.type = type; self.hard = hard; self.soft = soft }
    }

    public struct Root: Codable, Sendable, Equatable {
        public var path: String
        public var readonly: Bool?
        public init(path: String, readonly: Bool? = nil) { self.path = path; self.readonly = readonly }
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
        /// An idmapped mount's maps: read so that they are refused (see Engine).
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public init(destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil) {
            self.destination = destination; self.type = type; self.source = source; self.options = options
        }
    }

    public struct Linux: Codable, Sendable, Equatable {
        public var namespaces: [Namespace]?
        public var devices: [Device]?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var rootfsPropagation: String?
        public var cgroupsPath: String?
        public var resources: Resources?
        public var seccomp: Seccomp?
        public var sysctl: [String: String]?
        /// Refused when set (see Engine): Intel RDT and SELinux mount labels are not implemented.
        public var intelRdt: Present?
        public var mountLabel: String?
        /// A user namespace's maps (the namespace is created when linux.namespaces asks for one).
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public init() {}
    }

    public struct IDMapping: Codable, Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID; self.hostID = hostID; self.size = size
        }
    }

    public struct Resources: Codable, Sendable, Equatable {
        public var devices: [DeviceRule]?
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public var blockIO: BlockIO?
        public var hugepageLimits: [HugepageLimit]?
        public var network: Network?
        /// cgroup v2 files by name, written as given (v2 only).
        public var unified: [String: String]?
        /// Read so that it is refused: minirt writes no rdma limits.
        public var rdma: Present?
        public init() {}
    }

    public struct BlockIO: Codable, Sendable, Equatable {
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public var weightDevice: [WeightDevice]?
        public var throttleReadBpsDevice: [ThrottleDevice]?
        public var throttleWriteBpsDevice: [ThrottleDevice]?
        public var throttleReadIOPSDevice: [ThrottleDevice]?
        public var throttleWriteIOPSDevice: [ThrottleDevice]?
        public init() {}
    }

    public struct WeightDevice: Codable, Sendable, Equatable {
        public var major: Int64
        public var minor: Int64
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public init(major: Int64, minor: Int64, weight: UInt16?) { self.major = major; self.minor = minor; self.weight = weight }
    }

    public struct ThrottleDevice: Codable, Sendable, Equatable {
        public var major: Int64
        public var minor: Int64
        public var rate: UInt64
        public init(major: Int64, minor: Int64, rate: UInt64) { self.major = major; self.minor = minor; self.rate = rate }
    }

    public struct HugepageLimit: Codable, Sendable, Equatable {
        public var pageSize: String
        public var limit: UInt64
        public init(pageSize: String, limit: UInt64) { self.pageSize = pageSize; self.limit = limit }
    }

    public struct Network: Codable, Sendable, Equatable {
        public var classID: UInt32?
        public var priorities: [InterfacePriority]?
        public init() {}
    }

    public struct InterfacePriority: Codable, Sendable, Equatable {
        public var name: String
        public var priority: UInt32
    }

    public struct DeviceRule: Codable, Sendable, Equatable {
        public var allow: Bool
        public var type: String?      // a, c or b
        public var major: Int64?      // nil: any
        public var minor: Int64?
        public var access: String?    // some of r, w, m
        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
            self.allow = allow; self.type = type; self.major = major; self.minor = minor; self.access = access
        }
    }

    public struct Memory: Codable, Sendable, Equatable {
        public var limit: Int64?
        public var swap: Int64?       // memory plus swap, as in the OCI spec; -1 unlimited
        public var reservation: Int64?
        public var kernel: Int64?     // deprecated by the kernel: refused
        public var kernelTCP: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?
        public var useHierarchy: Bool?
        public var checkBeforeUpdate: Bool?
        public init() {}
    }

    public struct CPU: Codable, Sendable, Equatable {
        public var shares: UInt64?
        public var quota: Int64?
        public var period: UInt64?
        public var realtimeRuntime: Int64?
        public var realtimePeriod: UInt64?
        public var cpus: String?
        public var mems: String?
        public var idle: Int64?
        public init() {}
    }

    public struct Pids: Codable, Sendable, Equatable {
        public var limit: Int64
        public init(limit: Int64) { self.limit = limit }
    }

    /// The OCI form of a seccomp profile (linux.seccomp).
    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var flags: [String]?
        public var syscalls: [Syscall]?
        /// SCMP_ACT_NOTIFY: the unix socket of the agent that gets the listener, and what it is told.
        public var listenerPath: String?
        public var listenerMetadata: String?
        public init(defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil, syscalls: [Syscall]? = nil) {
            self.defaultAction = defaultAction; self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures; self.syscalls = syscalls
        }
    }

    public struct Syscall: Codable, Sendable, Equatable {
        public var names: [String]
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SyscallArg]?
        public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SyscallArg]? = nil) {
            self.names = names; self.action = action; self.errnoRet = errnoRet; self.args = args
        }
    }

    public struct SyscallArg: Codable, Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
        public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
            self.index = index; self.value = value; self.valueTwo = valueTwo; self.op = op
        }
    }

    public struct Namespace: Codable, Sendable, Equatable {
        public var type: String
        public var path: String?
        public init(type: String, path: String? = nil) { self.type = type; self.path = path }
    }

    public struct Device: Codable, Sendable, Equatable {
        public var type: String
        public var path: String
        public var major: Int64?
        public var minor: Int64?
        public var fileMode: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?
        public init(type: String, path: String, major: Int64, minor: Int64, fileMode: UInt32 = 0o666) {
            self.type = type; self.path = path; self.major = major; self.minor = minor
            self.fileMode = fileMode; self.uid = 0; self.gid = 0
        }
    }
}

extension OCISpec {
    /// Annotation that carried the root's overlayfs options before they became a
    /// mount (bundles written by older minirt still have it; the engine reads both).
    public static let overlayAnnotation = "org.minirt.rootfs.overlay"

    /// The container's writable layer as runc 1.1.5 also takes it: an overlay
    /// mount at "/", first in `mounts`, made inside the container's mount
    /// namespace on the root path (so no host mount can leak, even after kill -9),
    /// under every other mount.
    public static func rootOverlay(lower: String, upper: String, work: String) -> Mount {
        Mount(destination: "/", type: "overlay", source: "overlay", options: ["lowerdir=\(lower)", "upperdir=\(upper)", "workdir=\(work)"])
    }

    /// The overlay's data when the first mount is a root overlay (or the old annotation).
    public var rootOverlayData: String? {
        if let m = mounts?.first, m.destination == "/", m.type == "overlay" { return (m.options ?? []).joined(separator: ",") }
        return annotations?[Self.overlayAnnotation]
    }

    /// What `runc spec` writes: `sh` on a terminal in ./rootfs (read-only), the
    /// three capabilities runc grants, all namespaces but user, RLIMIT_NOFILE 1024.
    public static func runcDefault() -> OCISpec {
        var s = OCISpec()
        var p = Process()
        p.terminal = true
        p.args = ["sh"]
        p.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]
        p.noNewPrivileges = true
        var caps = Capabilities()
        let three = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        caps.bounding = three; caps.effective = three; caps.permitted = three; caps.ambient = three
        p.capabilities = caps
        p.rlimits = [Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)]
        s.process = p
        s.root = Root(path: "rootfs", readonly: true)
        s.hostname = "runc"
        s.mounts = Array(defaultMounts().dropLast()) + [
            Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ]
        var l = Linux()
        l.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { Namespace(type: $0) }
        l.maskedPaths = defaultMaskedPaths
        l.readonlyPaths = defaultReadonlyPaths
        s.linux = l
        return s
    }

    /// The default mounts runc's `spec` writes, which Docker also uses.
    public static func defaultMounts() -> [Mount] {
        [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ]
    }

    /// Device cgroup rules runc appends to every spec's rules (its AllowedDevices):
    /// mknod of anything, read and write of the harmless character devices and
    /// of ptys. Engines rely on them: podman's spec only says "deny everything".
    public static let defaultAllowedDevices: [DeviceRule] = [
        DeviceRule(allow: true, type: "c", access: "m"),
        DeviceRule(allow: true, type: "b", access: "m"),
    ] + [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)].map {
        DeviceRule(allow: true, type: "c", major: $0.0, minor: $0.1, access: "rwm")
    } + [DeviceRule(allow: true, type: "c", major: 136, access: "rwm")] // ptys

    /// The device nodes every container gets (runc's implicit list).
    public static func defaultDevices() -> [Device] {
        [
            Device(type: "c", path: "/dev/null", major: 1, minor: 3),
            Device(type: "c", path: "/dev/zero", major: 1, minor: 5),
            Device(type: "c", path: "/dev/full", major: 1, minor: 7),
            Device(type: "c", path: "/dev/random", major: 1, minor: 8),
            Device(type: "c", path: "/dev/urandom", major: 1, minor: 9),
            Device(type: "c", path: "/dev/tty", major: 5, minor: 0),
        ]
    }

    public static let defaultMaskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware", "/sys/devices/virtual/powercap",
    ]

    public static let defaultReadonlyPaths = [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ]
}
