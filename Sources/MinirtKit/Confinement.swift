import FoundationEssentials
import Glibc
import MinirtEngine
import MinirtState

/// `docker run`'s confinement and resource flags, as given.
public struct ConfinementOptions: Sendable {
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var privileged = false
    public var securityOpts: [String] = []
    public var readOnly = false
    /// podman's default: a read-only root still gets writable /tmp, /var/tmp and /run.
    public var readOnlyTmpfs = true
    public var tmpfs: [String] = []
    public var volumes: [String] = []
    public var mounts: [String] = []
    public var user: String?
    public var groupAdd: [String] = []
    public var memory: String?
    public var memorySwap: String?
    public var cpus: String?
    public var cpuShares: Int64?
    public var pidsLimit: Int64?
    public var cpusetCpus: String?
    public var cpusetMems: String?
    public var cpuPeriod: Int64?
    public var cpuQuota: Int64?
    public var cpuRtPeriod: Int64?
    public var cpuRtRuntime: Int64?
    public var blkioWeight: Int64?
    public var blkioWeightDevice: [String] = []
    public var deviceReadBps: [String] = []
    public var deviceWriteBps: [String] = []
    public var deviceReadIops: [String] = []
    public var deviceWriteIops: [String] = []
    public var memoryReservation: String?
    public var memorySwappiness: Int64?
    public var oomKillDisable = false
    public var kernelMemory: String?
    /// --device HOST[:CONTAINER[:PERMS]] and --device-cgroup-rule.
    public var devices: [String] = []
    public var deviceCgroupRules: [String] = []
    /// Mount points of the containers named by --volumes-from (resolved by the
    /// container store), each with the mode it asked for.
    public var inheritedMounts: [ContainerRecord.MountPoint] = []
    /// --cgroup-parent: the cgroup the container's goes under (default /minirt).
    public var cgroupParent: String?
    /// --volumes-from CONTAINER[:ro|rw], as given.
    public var volumesFrom: [String] = []
    /// The image's VOLUME paths: an anonymous volume each, unless a mount covers it.
    public var imageVolumes: [String] = []
    /// Where named volumes live (set by the container store, not a flag).
    public var volumesRoot = VolumeStore.defaultRoot
    public init() {}
}

/// Turns confinement options into the OCI spec: capabilities, seccomp,
/// no_new_privs, mounts, user, cgroup and its limits. Pure apart from reading
/// the image's /etc/passwd and /etc/group and the bind sources' existence.
public enum Confinement {
    /// Device rules of every unprivileged container: mknod of anything (so
    /// images that create nodes still unpack), but read and write only of the
    /// harmless character devices a container gets.
    static let deviceRules: [OCISpec.DeviceRule] = [OCISpec.DeviceRule(allow: false, access: "rwm")] + OCISpec.defaultAllowedDevices

    public static func apply(_ o: ConfinementOptions, to spec: inout OCISpec, host: inout ContainerRecord.HostConfig,
                             config: inout ContainerRecord.Config, id: String, imageRootfs: String, imageUser: String?,
                             fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) throws {
        var process = spec.process ?? OCISpec.Process()
        var linux = spec.linux ?? OCISpec.Linux()
        var security = ContainerRecord.Security()
        security.privileged = o.privileged
        security.capAdd = o.capAdd
        security.capDrop = o.capDrop
        security.securityOpt = o.securityOpts
        security.groupAdd = o.groupAdd

        // Capabilities.
        let caps: [String]
        let heldList = Capabilities.held()
        do {
            caps = try Capabilities.adjust(o.privileged ? heldList : Capabilities.dockerDefault,
                                           add: o.capAdd, drop: o.capDrop, held: heldList)
        } catch { throw RunError.invalid("\(error)") }
        let held = Set(heldList)
        if let missing = caps.first(where: { !held.contains($0) }) {
            throw RunError.invalid("\(missing) cannot be granted: minirt itself does not hold it on this host (its bounding set lacks it)")
        }
        var c = OCISpec.Capabilities()
        c.bounding = caps
        c.effective = caps
        c.permitted = caps
        process.capabilities = c

        // --security-opt.
        var seccompChoice: String?
        var noNewPrivileges = true
        for opt in o.securityOpts {
            let kv = opt.split(separator: "=", maxSplits: 1).map(String.init)
            let key = kv[0], value = kv.count > 1 ? kv[1] : nil
            switch key {
            case "seccomp":
                guard let v = value, !v.isEmpty else { throw RunError.invalid("--security-opt seccomp needs a value: seccomp=unconfined or seccomp=PROFILE.json") }
                seccompChoice = v
            case "no-new-privileges", "no_new_privs":
                switch value {
                case nil, "true": noNewPrivileges = true
                case "false": noNewPrivileges = false
                default: throw RunError.invalid("invalid --security-opt \(opt): use no-new-privileges or no-new-privileges=false")
                }
            case "label", "apparmor":
                // No LSM profiles here: accepted and recorded, as podman does on hosts without them.
                continue
            default:
                throw RunError.invalid("invalid --security-opt \(opt): use seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges[=false]")
            }
        }
        process.noNewPrivileges = noNewPrivileges
        switch seccompChoice {
        case "unconfined": linux.seccomp = nil
        case let path?: linux.seccomp = try SeccompProfile.load(path).resolve(capabilities: caps)
        case nil: linux.seccomp = o.privileged ? nil : SeccompProfile.dockerDefault.resolve(capabilities: caps)
        }

        // Devices: --privileged gets the host's, everyone else the default few.
        if o.privileged {
            linux.maskedPaths = []
            linux.readonlyPaths = []
            spec.mounts = spec.mounts?.map { m in
                var m = m
                if m.type == "sysfs" || m.type == "cgroup" { m.options = m.options?.filter { $0 != "ro" } }
                return m
            }
        }
        let added = try o.devices.flatMap { try DeviceFlags.devices($0) }
        let rules = try o.deviceCgroupRules.map(DeviceFlags.rule)
        if !added.isEmpty {
            let paths = Set(added.map(\.0.path))
            linux.devices = (linux.devices ?? []).filter { !paths.contains($0.path) } + added.map(\.0)
            security.devices = added.map(\.2)
        }
        if !rules.isEmpty { security.deviceCgroupRules = o.deviceCgroupRules }
        if !o.volumesFrom.isEmpty { security.volumesFrom = o.volumesFrom }
        if !o.privileged {
            var r = linux.resources ?? OCISpec.Resources()
            r.devices = deviceRules + added.map(\.1) + rules
            linux.resources = r
        }

        // User.
        let userSpec = o.user ?? (imageUser.flatMap { $0.isEmpty ? nil : $0 })
        if let u = userSpec {
            process.user = try UserLookup.resolve(u, root: imageRootfs, groupAdd: o.groupAdd)
            config.user = u
        } else if !o.groupAdd.isEmpty {
            process.user = try UserLookup.resolve("0", root: imageRootfs, groupAdd: o.groupAdd)
        }

        // Root filesystem and mounts.
        var mounts = spec.mounts ?? []
        var points: [ContainerRecord.MountPoint] = []
        if o.readOnly {
            spec.root?.readonly = true
            security.readonlyRootfs = true
            if o.readOnlyTmpfs {
                for dir in ["/tmp", "/var/tmp", "/run"] {
                    mounts.append(OCISpec.Mount(destination: dir, type: "tmpfs", source: "tmpfs",
                                                options: ["rw", "nosuid", "nodev", "mode=1777"]))
                }
            }
        }
        for t in o.tmpfs {
            let m = try MountSpec.tmpfs(t)
            mounts.removeAll { $0.destination == m.destination }
            mounts.append(m)
            security.tmpfs[m.destination] = (m.options ?? []).joined(separator: ",")
            points.append(.init(type: "tmpfs", source: "", destination: m.destination, mode: "", rw: !(m.options ?? []).contains("ro"), propagation: ""))
        }
        for v in o.volumes {
            let (m, p) = try MountSpec.volume(v, fileExists: fileExists, volumes: o.volumesRoot)
            mounts.removeAll { $0.destination == m.destination }
            mounts.append(m)
            points.append(p)
            if p.anonymous != true { security.binds.append(v) }
        }
        for v in o.mounts {
            let (m, p) = try MountSpec.mount(v, fileExists: fileExists, volumes: o.volumesRoot)
            mounts.removeAll { $0.destination == m.destination }
            mounts.append(m)
            points.append(p)
        }
        // --volumes-from, then the image's volumes: only where nothing given above is mounted (docker's order).
        for p in o.inheritedMounts where !points.contains(where: { $0.destination == p.destination }) {
            var options = ["rbind", p.type == "bind" && !p.propagation.isEmpty ? p.propagation : "rprivate"]
            if !p.rw { options.append("ro") }
            mounts.removeAll { $0.destination == p.destination }
            mounts.append(OCISpec.Mount(destination: p.destination, type: "bind", source: p.source, options: options))
            var inherited = p
            inherited.anonymous = nil // the other container's: never removed with this one
            points.append(inherited)
        }
        for path in o.imageVolumes.sorted() {
            let target = try MountSpec.checkTarget(path, flag: "the image's VOLUME")
            guard !points.contains(where: { $0.destination == target }) else { continue }
            let (m, p) = try MountSpec.named(StateStore.newID(), target: target, readonly: false, volumes: o.volumesRoot, anonymous: true)
            mounts.removeAll { $0.destination == m.destination }
            mounts.append(m)
            points.append(p)
        }
        let targets = points.map(\.destination)
        if let dup = targets.first(where: { t in targets.filter { $0 == t }.count > 1 }) {
            throw RunError.invalid("duplicate mount point \(dup): give each target once")
        }
        security.mounts = points
        spec.mounts = mounts

        // Cgroup and limits.
        var r = linux.resources ?? OCISpec.Resources()
        try limits(o, into: &r, security: &security)
        linux.resources = r
        if let parent = o.cgroupParent {
            let parts = parent.split(separator: "/")
            guard !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }), Validate.isToken(parent) else {
                throw RunError.invalid("invalid --cgroup-parent \(Validate.printable(parent)): give a cgroup path such as /mygroup, without . or ..")
            }
            linux.cgroupsPath = "/" + parts.joined(separator: "/") + "/\(id)"
            security.cgroupParent = parent
        } else {
            linux.cgroupsPath = "/minirt/\(id)"
        }
        security.cgroupsPath = linux.cgroupsPath ?? ""

        spec.process = process
        spec.linux = linux
        host.security = security
    }
}

extension Confinement {
    /// --memory, --memory-swap, --cpus, --cpu-shares, --pids-limit as cgroup
    /// resources (run, and update on a live container).
    public static func limits(_ o: ConfinementOptions, into r: inout OCISpec.Resources, security: inout ContainerRecord.Security) throws {
        if let m = o.memory {
            let limit = try ByteSize.parse(m, flag: "--memory")
            guard limit >= 6 * 1024 * 1024 else {
                throw RunError.invalid("--memory \(m) is below the minimum of 6m: give at least 6m")
            }
            var mem = OCISpec.Memory()
            mem.limit = limit
            security.memory = limit
            if let s = o.memorySwap {
                let swap = s == "-1" ? -1 : try ByteSize.parse(s, flag: "--memory-swap")
                guard swap == -1 || swap >= limit else {
                    throw RunError.invalid("--memory-swap \(s) is smaller than --memory \(m): give memory plus swap, or -1 for unlimited swap")
                }
                mem.swap = swap
            } else {
                mem.swap = limit * 2 // Docker's default: as much swap as memory
            }
            security.memorySwap = mem.swap ?? 0
            r.memory = mem
        } else if let s = o.memorySwap {
            throw RunError.invalid("--memory-swap \(s) needs --memory: set the memory limit too")
        }
        if let cpus = o.cpus {
            let online = max(1, ProcessInfo.processInfo.activeProcessorCount)
            guard let n = Double(cpus), n.isFinite, n > 0 else {
                throw RunError.invalid("invalid --cpus \(cpus): give a positive number such as 0.5 or 2")
            }
            // The kernel's smallest CFS quota is 1 ms of a 100 ms period.
            guard n >= 0.01 else {
                throw RunError.invalid("--cpus \(cpus) is below the minimum of 0.01: give 0.01 to \(online)")
            }
            guard n <= Double(online) else {
                throw RunError.invalid("--cpus \(cpus) is more than the \(online) CPUs this host has: give at most \(online)")
            }
            var cpu = r.cpu ?? OCISpec.CPU()
            cpu.period = 100_000
            cpu.quota = Int64((n * 100_000).rounded())
            r.cpu = cpu
            security.nanoCpus = Int64((n * 1e9).rounded())
        }
        if let shares = o.cpuShares {
            guard shares >= 0 else { throw RunError.invalid("invalid --cpu-shares \(shares): give a positive number (default 1024)") }
            if shares > 0 {
                var cpu = r.cpu ?? OCISpec.CPU()
                cpu.shares = UInt64(max(2, min(shares, 262_144)))
                r.cpu = cpu
                security.cpuShares = shares
            }
        }
        if let p = o.pidsLimit, p < -1 {
            throw RunError.invalid("invalid --pids-limit \(p): give a positive number, or 0 or -1 for unlimited")
        }
        if let p = o.pidsLimit, p > 0 {
            r.pids = OCISpec.Pids(limit: p)
            security.pidsLimit = p
        }
        try moreLimits(o, into: &r, security: &security)
    }

    /// --cpuset-*, --cpu-period/-quota/-rt-*, --blkio-*, --device-*-bps/-iops,
    /// --memory-reservation, --memory-swappiness, --oom-kill-disable, checked as
    /// docker checks them; whether the host can carry them is the engine's check
    /// (Cgroup.writes), which refuses with the reason.
    static func moreLimits(_ o: ConfinementOptions, into r: inout OCISpec.Resources, security: inout ContainerRecord.Security) throws {
        if let k = o.kernelMemory {
            throw RunError.invalid("--kernel-memory \(k): kernel memory limits are no longer supported by the kernel (docker ignores them too): remove the flag")
        }
        var l = security.limits ?? ContainerRecord.Limits()
        var cpu = r.cpu ?? OCISpec.CPU()
        for (flag, value) in [("--cpuset-cpus", o.cpusetCpus), ("--cpuset-mems", o.cpusetMems)] {
            guard let value else { continue }
            guard !value.isEmpty, value.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "," || $0 == "-") }) else {
                throw RunError.invalid("invalid \(flag) \(value): give a list such as 0-3 or 0,2")
            }
            if flag == "--cpuset-cpus" { cpu.cpus = value; l.cpusetCpus = value } else { cpu.mems = value; l.cpusetMems = value }
        }
        if let p = o.cpuPeriod {
            guard p == 0 || (1000...1_000_000).contains(p) else { throw RunError.invalid("invalid --cpu-period \(p): give 1000 to 1000000 microseconds") }
            if p > 0 {
                if o.cpus != nil { throw RunError.invalid("--cpus and --cpu-period cannot both be set (as docker): give one of them") }
                cpu.period = UInt64(p)
                l.cpuPeriod = p
            }
        }
        if let q = o.cpuQuota {
            guard q == 0 || q == -1 || q >= 1000 else { throw RunError.invalid("invalid --cpu-quota \(q): give at least 1000 microseconds, or -1 for none") }
            if q != 0 {
                if o.cpus != nil { throw RunError.invalid("--cpus and --cpu-quota both set the CPU quota: give one of them") }
                cpu.quota = q
                if cpu.period == nil { cpu.period = 100_000 }
                l.cpuQuota = q
            }
        }
        if let p = o.cpuRtPeriod {
            guard p > 0 else { throw RunError.invalid("invalid --cpu-rt-period \(p): give a positive number of microseconds") }
            cpu.realtimePeriod = UInt64(p)
            l.cpuRealtimePeriod = p
        }
        if let rt = o.cpuRtRuntime {
            if let p = o.cpuRtPeriod, rt > p { throw RunError.invalid("--cpu-rt-runtime \(rt) is above --cpu-rt-period \(p): give at most the period") }
            cpu.realtimeRuntime = rt
            l.cpuRealtimeRuntime = rt
        }
        if cpu != OCISpec.CPU() { r.cpu = cpu }

        var blkio = r.blockIO ?? OCISpec.BlockIO()
        if let w = o.blkioWeight, w != 0 {
            guard (10...1000).contains(w) else { throw RunError.invalid("invalid --blkio-weight \(w): give 10 to 1000 (or 0 for the default)") }
            blkio.weight = UInt16(w)
            l.blkioWeight = UInt16(w)
        }
        for entry in o.blkioWeightDevice {
            let (path, dev, value) = try deviceEntry(entry, flag: "--blkio-weight-device", rate: false)
            guard (10...1000).contains(value) else { throw RunError.invalid("invalid --blkio-weight-device \(entry): give a weight of 10 to 1000") }
            blkio.weightDevice = (blkio.weightDevice ?? []) + [OCISpec.WeightDevice(major: dev.major, minor: dev.minor, weight: UInt16(value))]
            l.blkioWeightDevice.append(ContainerRecord.DeviceRate(path: path, rate: value))
        }
        let throttles: [(String, [String], WritableKeyPath<OCISpec.BlockIO, [OCISpec.ThrottleDevice]?>, WritableKeyPath<ContainerRecord.Limits, [ContainerRecord.DeviceRate]>, Bool)] = [
            ("--device-read-bps", o.deviceReadBps, \.throttleReadBpsDevice, \.blkioDeviceReadBps, true),
            ("--device-write-bps", o.deviceWriteBps, \.throttleWriteBpsDevice, \.blkioDeviceWriteBps, true),
            ("--device-read-iops", o.deviceReadIops, \.throttleReadIOPSDevice, \.blkioDeviceReadIOps, false),
            ("--device-write-iops", o.deviceWriteIops, \.throttleWriteIOPSDevice, \.blkioDeviceWriteIOps, false),
        ]
        for (flag, entries, field, shown, bytes) in throttles {
            for entry in entries {
                let (path, dev, value) = try deviceEntry(entry, flag: flag, rate: bytes)
                blkio[keyPath: field] = (blkio[keyPath: field] ?? []) + [OCISpec.ThrottleDevice(major: dev.major, minor: dev.minor, rate: value)]
                l[keyPath: shown].append(ContainerRecord.DeviceRate(path: path, rate: value))
            }
        }
        if blkio != OCISpec.BlockIO() { r.blockIO = blkio }

        var mem = r.memory ?? OCISpec.Memory()
        if let m = o.memoryReservation {
            let res = try ByteSize.parse(m, flag: "--memory-reservation")
            if let limit = mem.limit, res > limit { throw RunError.invalid("--memory-reservation \(m) is above --memory: give a smaller reservation") }
            mem.reservation = res
            l.memoryReservation = res
        }
        if let sw = o.memorySwappiness, sw != -1 {
            guard (0...100).contains(sw) else { throw RunError.invalid("invalid --memory-swappiness \(sw): give 0 to 100 (or -1 for the host's)") }
            mem.swappiness = UInt64(sw)
            l.memorySwappiness = sw
        }
        if o.oomKillDisable {
            mem.disableOOMKiller = true
            l.oomKillDisable = true
        }
        if mem != OCISpec.Memory() { r.memory = mem }
        if l != ContainerRecord.Limits() { security.limits = l }
    }

    /// "PATH:VALUE" of a --blkio-weight-device or --device-*-bps/-iops flag: the
    /// host's block device (its major:minor) and the value (a size for bps).
    static func deviceEntry(_ entry: String, flag: String, rate bytes: Bool) throws -> (String, (major: Int64, minor: Int64), UInt64) {
        guard let colon = entry.lastIndex(of: ":"), colon != entry.startIndex else {
            throw RunError.invalid("invalid \(flag) \(entry): give DEVICE:\(bytes ? "RATE such as /dev/sda:1mb" : "VALUE such as /dev/sda:100")")
        }
        let path = String(entry[..<colon]), text = String(entry[entry.index(after: colon)...])
        let value: Int64
        if bytes { value = try ByteSize.parse(text, flag: flag) } else {
            guard let v = Int64(text), v >= 0 else { throw RunError.invalid("invalid \(flag) \(entry): give a whole number after the colon") }
            value = v
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw RunError.invalid("invalid \(flag) \(entry): \(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFBLK else { throw RunError.invalid("invalid \(flag) \(entry): \(path) is not a block device") }
        let major = Int64((st.st_rdev >> 8) & 0xfff) | Int64((st.st_rdev >> 32) & ~0xfff)
        let minor = Int64(st.st_rdev & 0xff) | Int64((st.st_rdev >> 12) & ~0xff)
        return (path, (major, minor), UInt64(value))
    }
}

/// docker's --device and --device-cgroup-rule.
public enum DeviceFlags {
    /// What the host has at a path: a device's type (c or b), numbers, mode and owner.
    public struct HostDevice: Sendable {
        public var type: String, major: Int64, minor: Int64, mode: UInt32, uid: UInt32, gid: UInt32
        public init(type: String, major: Int64, minor: Int64, mode: UInt32, uid: UInt32, gid: UInt32) {
            self.type = type; self.major = major; self.minor = minor; self.mode = mode; self.uid = uid; self.gid = gid
        }
    }

    public static func hostDevice(_ path: String) throws -> HostDevice {
        var st = stat()
        guard stat(path, &st) == 0 else { throw RunError.invalid("invalid --device \(path): \(String(cString: strerror(errno))): give a device on this host") }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFBLK else {
            throw RunError.invalid("invalid --device \(path): not a character or block device (give each device, not a directory)")
        }
        let major = Int64((st.st_rdev >> 8) & 0xfff) | Int64((st.st_rdev >> 32) & ~0xfff)
        let minor = Int64(st.st_rdev & 0xff) | Int64((st.st_rdev >> 12) & ~0xff)
        return HostDevice(type: kind == S_IFCHR ? "c" : "b", major: major, minor: minor, mode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid)
    }

    /// HOST[:CONTAINER[:PERMISSIONS]]: the node to create, the cgroup rule that allows it, docker's record of it.
    public static func device(_ flag: String, lookup: (String) throws -> HostDevice = hostDevice) throws
        -> (OCISpec.Device, OCISpec.DeviceRule, ContainerRecord.DeviceMapping) {
        let parts = flag.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let host = parts[0]
        var inside = parts[0], perms = "rwm"
        switch parts.count {
        case 1: break
        case 2:
            // docker: a second part of only r, w and m is the permissions.
            if isPermissions(parts[1]) { perms = parts[1] } else { inside = parts[1] }
        case 3: inside = parts[1]; perms = parts[2]
        default: throw RunError.invalid("invalid --device \(Validate.printable(flag)): write HOST[:CONTAINER[:PERMISSIONS]]")
        }
        guard host.hasPrefix("/"), inside.hasPrefix("/"), Validate.isCleanAbsolutePath(inside) else {
            throw RunError.invalid("invalid --device \(Validate.printable(flag)): both paths must be absolute, without .. or control characters")
        }
        guard isPermissions(perms) else {
            throw RunError.invalid("invalid --device \(Validate.printable(flag)): permissions are some of r, w and m")
        }
        let d = try lookup(host)
        var node = OCISpec.Device(type: d.type, path: inside, major: d.major, minor: d.minor, fileMode: d.mode)
        node.uid = d.uid
        node.gid = d.gid
        return (node, OCISpec.DeviceRule(allow: true, type: d.type, major: d.major, minor: d.minor, access: perms),
                ContainerRecord.DeviceMapping(pathOnHost: host, pathInContainer: inside, cgroupPermissions: perms))
    }

    /// A --device that names a directory (docker's `--device /dev/snd`): every
    /// device below it, at the same place under CONTAINER (links not followed,
    /// 8 levels at most); one that names a device: that device.
    public static func devices(_ flag: String) throws -> [(OCISpec.Device, OCISpec.DeviceRule, ContainerRecord.DeviceMapping)] {
        let parts = flag.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var st = stat()
        guard let host = parts.first, host.hasPrefix("/"), stat(host, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            return [try device(flag)]
        }
        guard Validate.isCleanAbsolutePath(host) else {
            throw RunError.invalid("invalid --device \(Validate.printable(flag)): both paths must be absolute, without .. or control characters")
        }
        var found: [String] = []
        func walk(_ dir: String, depth: Int) {
            guard depth < 8, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted() {
                let path = dir + "/" + name
                var e = stat()
                guard lstat(path, &e) == 0 else { continue }
                switch e.st_mode & S_IFMT {
                case S_IFCHR, S_IFBLK: found.append(path)
                case S_IFDIR: walk(path, depth: depth + 1)
                default: break
                }
            }
        }
        walk(host, depth: 0)
        guard !found.isEmpty else { throw RunError.invalid("invalid --device \(Validate.printable(flag)): the directory holds no device") }
        let inside = parts.count > 1 && !isPermissions(parts[1]) ? parts[1] : host
        let rest = parts.count == 3 ? [parts[2]] : parts.count == 2 && isPermissions(parts[1]) ? [parts[1]] : []
        return try found.map { path in
            try device(([path, inside + path.dropFirst(host.count)] + rest).joined(separator: ":"))
        }
    }

    /// "c|b|a MAJOR:MINOR ACCESS", numbers or *, as docker's --device-cgroup-rule.
    public static func rule(_ text: String) throws -> OCISpec.DeviceRule {
        let bad = RunError.invalid("invalid --device-cgroup-rule \"\(Validate.printable(text))\": write TYPE MAJOR:MINOR ACCESS, such as 'c 1:3 rwm' or 'b 8:* r'")
        let f = text.split(separator: " ").map(String.init)
        guard f.count == 3, ["a", "b", "c"].contains(f[0]), isPermissions(f[2]) else { throw bad }
        let nums = f[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard nums.count == 2 else { throw bad }
        func number(_ s: String) throws -> Int64? {
            if s == "*" { return nil }
            guard let n = Int64(s), n >= 0, n < 1 << 32 else { throw bad }
            return n
        }
        return OCISpec.DeviceRule(allow: true, type: f[0], major: try number(nums[0]), minor: try number(nums[1]), access: f[2])
    }

    static func isPermissions(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 3 && s.allSatisfy { "rwm".contains($0) } && Set(s).count == s.count
    }
}

/// Sizes as Docker reads them: 6m, 1.5g, 512k, 100b, 1GB, or plain bytes.
public enum ByteSize {
    public static func parse(_ s: String, flag: String) throws -> Int64 {
        var text = s.lowercased()
        if text.hasSuffix("b") && text.count > 1 && !text.dropLast().last!.isNumber { text.removeLast() }
        let units: [Character: Double] = ["b": 1, "k": 0x400, "m": 0x10_0000, "g": 0x4000_0000, "t": 0x100_0000_0000, "p": 0x4_0000_0000_0000]
        var multiplier = 1.0
        if let last = text.last, let m = units[last] {
            multiplier = m
            text.removeLast()
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let n = Double(text), n.isFinite else {
            throw RunError.invalid("invalid \(flag) \(s): give a size such as 64m, 512k or 1g")
        }
        // Int64(x) traps for x >= 2^63: refuse before converting.
        let bytes = n * multiplier
        guard bytes < 0x1p63 else {
            throw RunError.invalid("invalid \(flag) \(s): larger than the largest size (8 EiB); give a smaller size")
        }
        return Int64(bytes)
    }
}

/// `-v`, `--mount` and `--tmpfs` specifications.
public enum MountSpec {
    static func checkTarget(_ t: String, flag: String) throws -> String {
        guard t.hasPrefix("/") else {
            throw RunError.invalid("invalid \(flag) target \"\(t)\": give an absolute path inside the container")
        }
        let parts = t.split(separator: "/")
        guard !parts.contains("..") else {
            throw RunError.invalid("invalid \(flag) target \"\(t)\": \"..\" would leave the container's root; give a clean path")
        }
        let clean = "/" + parts.filter { $0 != "." }.joined(separator: "/")
        guard clean != "/" else { throw RunError.invalid("invalid \(flag) target \"/\": a volume cannot replace the container's root") }
        // As runc: /proc is the kernel's view of the container; nothing is mounted over or inside it.
        guard clean != "/proc" && !clean.hasPrefix("/proc/") else {
            throw RunError.invalid("invalid \(flag) target \"\(t)\": nothing may be mounted over or inside /proc; choose another target")
        }
        return clean
    }

    static func propagation(_ p: String?) throws -> String {
        guard let p else { return "rprivate" }
        guard ["private", "rprivate", "shared", "rshared", "slave", "rslave"].contains(p) else {
            throw RunError.invalid("invalid propagation \"\(p)\": use rprivate, private, rshared, shared, rslave or slave")
        }
        return p
    }

    static func bind(source: String, target: String, readonly: Bool, propagation: String,
                     fileExists: (String) -> Bool, flag: String) throws -> (OCISpec.Mount, ContainerRecord.MountPoint) {
        guard source.hasPrefix("/") else {
            throw RunError.invalid("invalid \(flag) source \"\(source)\": named volumes are not supported; give an absolute host path")
        }
        guard fileExists(source) else {
            throw RunError.invalid("bind source \(source) does not exist: create it first or fix the path")
        }
        var options = ["rbind", propagation]
        if readonly { options.append("ro") }
        return (OCISpec.Mount(destination: target, type: "bind", source: source, options: options),
                ContainerRecord.MountPoint(type: "bind", source: source, destination: target,
                                           mode: readonly ? "ro" : "", rw: !readonly, propagation: propagation))
    }

    /// A named volume: its folder bound at the target (created, and filled from
    /// the image, when the container is made).
    static func named(_ name: String, target: String, readonly: Bool, volumes: String, anonymous: Bool = false) throws -> (OCISpec.Mount, ContainerRecord.MountPoint) {
        guard VolumeStore.isValidName(name) else {
            throw RunError.invalid("invalid volume name \"\(name)\": use letters, digits, _ . - (or an absolute host path to bind)")
        }
        let source = VolumeStore(root: volumes).data(name)
        var options = ["rbind", "rprivate"]
        if readonly { options.append("ro") }
        var point = ContainerRecord.MountPoint(type: "volume", source: source, destination: target,
                                               mode: readonly ? "ro" : "z", rw: !readonly, propagation: "")
        point.anonymous = anonymous ? true : nil
        return (OCISpec.Mount(destination: target, type: "bind", source: source, options: options), point)
    }

    /// `-v /host/path:/container/path[:ro|rw][,propagation]`, or `-v NAME:/path` (a named volume).
    public static func volume(_ v: String, fileExists: (String) -> Bool, volumes: String = VolumeStore.defaultRoot) throws -> (OCISpec.Mount, ContainerRecord.MountPoint) {
        let parts = v.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        // -v /path: an anonymous volume there.
        if parts.count == 1, v.hasPrefix("/") {
            return try named(StateStore.newID(), target: try checkTarget(v, flag: "-v"), readonly: false, volumes: volumes, anonymous: true)
        }
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw RunError.invalid("invalid volume \"\(v)\": write -v /host/path:/container/path[:ro]")
        }
        let target = try checkTarget(parts[1], flag: "-v")
        var readonly = false
        var prop: String?
        for opt in parts.count == 3 ? parts[2].split(separator: ",").map(String.init) : [] {
            switch opt {
            case "ro": readonly = true
            case "rw": readonly = false
            case "z", "Z", "nocopy": continue // SELinux relabel, volume copy: nothing to do here
            case "private", "rprivate", "shared", "rshared", "slave", "rslave": prop = opt
            default: throw RunError.invalid("invalid volume option \"\(opt)\" in \(v): use ro, rw or a propagation such as rprivate")
            }
        }
        if !parts[0].hasPrefix("/") && !parts[0].hasPrefix(".") {
            return try named(parts[0], target: target, readonly: readonly, volumes: volumes)
        }
        return try bind(source: parts[0], target: target, readonly: readonly, propagation: propagation(prop),
                        fileExists: fileExists, flag: "-v")
    }

    /// `--mount type=bind,source=...,target=...[,readonly]` or `type=tmpfs,target=...[,tmpfs-size=...]`.
    public static func mount(_ v: String, fileExists: (String) -> Bool, volumes: String = VolumeStore.defaultRoot) throws -> (OCISpec.Mount, ContainerRecord.MountPoint) {
        var fields: [String: String] = [:]
        for item in v.split(separator: ",").map(String.init) {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            var key = kv[0]
            switch key {
            case "src": key = "source"
            case "dst", "destination": key = "target"
            case "ro": key = "readonly"
            default: break
            }
            fields[key] = kv.count > 1 ? kv[1] : "true"
        }
        let known: Set = ["type", "source", "target", "readonly", "bind-propagation", "tmpfs-size", "tmpfs-mode", "consistency"]
        if let bad = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw RunError.invalid("invalid --mount field \"\(bad)\" in \(v): use type, source, target, readonly, bind-propagation, tmpfs-size or tmpfs-mode")
        }
        guard let t = fields["target"] else { throw RunError.invalid("--mount \(v) has no target: add target=/path") }
        let target = try checkTarget(t, flag: "--mount")
        let readonly: Bool
        switch fields["readonly"] {
        case nil, "false", "0": readonly = false
        case "true", "1": readonly = true
        case let x?: throw RunError.invalid("invalid --mount readonly=\(x): use readonly, readonly=true or readonly=false")
        }
        switch fields["type"] ?? "volume" {
        case "bind":
            guard let s = fields["source"] else { throw RunError.invalid("--mount type=bind needs source=/host/path") }
            return try bind(source: s, target: target, readonly: readonly, propagation: propagation(fields["bind-propagation"]),
                            fileExists: fileExists, flag: "--mount")
        case "volume":
            // No source: an anonymous volume, with a fresh name as docker's.
            return try named(fields["source"] ?? StateStore.newID(), target: target, readonly: readonly, volumes: volumes,
                             anonymous: fields["source"] == nil)
        case "tmpfs":
            var opts = ["nosuid", "nodev"]
            if readonly { opts.insert("ro", at: 0) }
            if let size = fields["tmpfs-size"] { opts.append("size=\(try ByteSize.parse(size, flag: "tmpfs-size"))") }
            if let mode = fields["tmpfs-mode"] {
                guard UInt32(mode, radix: 8) != nil else { throw RunError.invalid("invalid tmpfs-mode \(mode): give octal such as 1777") }
                opts.append("mode=\(mode)")
            }
            return (OCISpec.Mount(destination: target, type: "tmpfs", source: "tmpfs", options: opts),
                    .init(type: "tmpfs", source: "", destination: target, mode: "", rw: !readonly, propagation: ""))
        case let other:
            throw RunError.invalid("--mount type=\(other) is not supported: use type=bind, type=volume or type=tmpfs")
        }
    }

    /// `--tmpfs /path[:options]`, Docker's defaults noexec,nosuid,nodev.
    public static func tmpfs(_ v: String) throws -> OCISpec.Mount {
        let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
        let target = try checkTarget(parts[0], flag: "--tmpfs")
        var options = ["noexec", "nosuid", "nodev"]
        if parts.count > 1 {
            for o in parts[1].split(separator: ",").map(String.init) {
                let key = String(o.split(separator: "=").first ?? "")
                guard ["ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "size", "mode", "uid", "gid", "nr_inodes"].contains(key) else {
                    throw RunError.invalid("invalid --tmpfs option \"\(o)\": use size=, mode=, uid=, gid=, ro, exec, suid or dev")
                }
                if key == "size", let value = o.split(separator: "=", maxSplits: 1).last {
                    options.append("size=\(try ByteSize.parse(String(value), flag: "--tmpfs size"))")
                } else {
                    options.append(o)
                }
            }
        }
        return OCISpec.Mount(destination: target, type: "tmpfs", source: "tmpfs", options: options)
    }
}
