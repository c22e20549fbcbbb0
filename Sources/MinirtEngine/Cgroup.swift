#if canImport(Glibc)
import Glibc
#endif

/// One container's cgroup: created before the process, joined by the child
/// itself before anything else (it writes "0" into cgroup.procs descriptors
/// opened here), removed after the last process is gone. Works on the unified
/// (v2) hierarchy and on hosts whose controllers are on v1 (the hybrid layout).
public struct Cgroup: Sendable {
    public enum Layout: Sendable, Equatable {
        /// controller name -> the directory of its hierarchy's root
        case v1([String: String])
        case v2(String)
    }

    /// The hierarchy relative path, e.g. "/minirt/<id>".
    public let path: String
    public let layout: Layout

    public init(path: String, layout: Layout = Cgroup.hostLayout) {
        self.path = path.hasPrefix("/") ? path : "/" + path
        self.layout = layout
    }

    /// v1 controllers a container is placed in (each one mounted on this host).
    static let v1Controllers = ["memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "blkio", "freezer", "hugetlb", "net_cls", "net_prio"]

    /// `MINIRT_CGROUP_V2=DIR` forces the unified layout at DIR (tests use the
    /// hybrid host's /sys/fs/cgroup/unified to exercise the v2 device filter).
    public static let hostLayout: Layout = {
        if let forced = getenv("MINIRT_CGROUP_V2").map({ String(cString: $0) }), !forced.isEmpty { return .v2(forced) }
        return detect()
    }()

    static func detect(base: String = "/sys/fs/cgroup") -> Layout {
        if access("\(base)/cgroup.controllers", F_OK) == 0 { return .v2(base) }
        // Co-mounted controllers appear as symlinks beside their hierarchy
        // (cpu -> cpu,cpuacct): one readlink each, not a realpath's walk of every component.
        var found: [String: String] = [:]
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
        for c in v1Controllers {
            let path = "\(base)/\(c)"
            let n = readlink(path, &buf, buf.count - 1)
            if n >= 0 {
                let target = String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // Only a sibling in the same folder is a co-mount; anything else is not a hierarchy minirt knows.
                guard !target.contains("/"), target != ".", target != "..", access("\(base)/\(target)", F_OK) == 0 else { continue }
                found[c] = "\(base)/\(target)"
            } else if errno == EINVAL {
                found[c] = path  // a folder of its own
            }
        }
        return .v1(found)
    }

    /// The cgroup's directories, one per hierarchy (co-mounted controllers share one).
    public var directories: [String] { hierarchies.map { $0 + path } }

    func directory(_ controller: String) -> String? {
        switch layout {
        case .v2(let root): return root + path
        case .v1(let mounts): return mounts[controller].map { $0 + path }
        }
    }

    // MARK: create and join

    /// The root directory of each hierarchy the cgroup lives in.
    var hierarchies: [String] {
        switch layout {
        case .v2(let root): return [root]
        case .v1(let mounts): return Array(Set(mounts.values)).sorted()
        }
    }

    /// Creates the cgroup with its limits; on failure nothing is left.
    public func create(_ r: OCISpec.Resources?) throws {
        var made: [String] = []
        do {
            for root in hierarchies {
                // Intermediate levels ("/minirt") are shared and stay.
                var level = root
                for component in path.split(separator: "/").dropLast() {
                    if case .v2 = layout { enableControllers(level) }
                    level += "/\(component)"
                    if mkdir(level, 0o755) != 0 && errno != EEXIST { throw CgroupError.io("mkdir \(level)", errno) }
                }
                if case .v2 = layout { enableControllers(level) }
                let dir = root + path
                if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw CgroupError.io("mkdir \(dir)", errno) }
                made.append(dir)
                if case .v1(let mounts) = layout, root == mounts["cpuset"] { try inheritCpuset(root) }
            }
            if let r { try apply(r) }
        } catch {
            for dir in made { rmdir(dir) }
            throw error
        }
    }

    /// v1 cpuset: a new cgroup has no cpus or memory nodes, and no process can
    /// join it until it gets them: each level takes its parent's (as runc does).
    private func inheritCpuset(_ root: String) throws {
        var parent = root
        for component in path.split(separator: "/") {
            let level = parent + "/\(component)"
            for file in ["cpuset.cpus", "cpuset.mems"] {
                func trimmed(_ text: String?) -> String? { text.map { String($0.filter { !$0.isWhitespace }) } }
                let mine = trimmed(Self.read("\(level)/\(file)")) ?? ""
                guard mine.isEmpty, let theirs = trimmed(Self.read("\(parent)/\(file)")), !theirs.isEmpty else { continue }
                if !Self.write("\(level)/\(file)", theirs) { throw CgroupError.io("writing \(theirs) to \(level)/\(file)", errno) }
            }
            parent = level
        }
    }

    private func enableControllers(_ dir: String) {
        guard let available = Self.read("\(dir)/cgroup.controllers") else { return }
        let wanted = available.split(whereSeparator: \.isWhitespace).filter { ["memory", "cpu", "cpuset", "pids", "io", "hugetlb"].contains(String($0)) }
        for c in wanted { _ = Self.write("\(dir)/cgroup.subtree_control", "+\(c)") }
    }

    /// Writes the limits. Values the kernel rejects are reported with the file's name.
    func apply(_ r: OCISpec.Resources) throws {
        let plan = try Self.writes(r, layout: layout) { controller, file in
            directory(controller).map { access("\($0)/\(file)", F_OK) == 0 } ?? false
        }
        for w in plan { try set(w.controller, w.file, w.value) }
        if let rules = r.devices, let dir = directory("devices") {
            switch layout {
            case .v1: for rule in rules { try set("devices", rule.allow ? "devices.allow" : "devices.deny", Self.deviceRule(rule)) }
            case .v2: if !rules.isEmpty { try DeviceFilter.attach(rules, to: dir) }
            }
        }
    }

    /// One limit as the kernel takes it: the controller whose directory holds
    /// the file ("" for v2's own), the file, the value.
    public struct Write: Equatable, Sendable, CustomStringConvertible {
        public var controller: String, file: String, value: String
        public init(_ controller: String, _ file: String, _ value: String) { self.controller = controller; self.file = file; self.value = value }
        public var description: String { "\(file)=\(value)" }
    }

    /// The files that carry linux.resources (devices aside) on a layout, with
    /// runc's conversions for v2; pure, so the conversions are unit-tested.
    /// `has(controller, file)` tells the optional files this host has. What the
    /// host cannot carry is refused with the reason, never skipped.
    public static func writes(_ r: OCISpec.Resources, layout: Layout, has: (String, String) -> Bool) throws -> [Write] {
        var out: [Write] = []
        let v2: Bool
        if case .v2 = layout { v2 = true } else { v2 = false }
        func refuse(_ what: String, _ why: String) -> CgroupError { .unsupported("linux.resources.\(what): \(why)") }
        func device(_ major: Int64, _ minor: Int64, _ what: String) throws -> String {
            guard major >= 0, minor >= 0 else { throw refuse(what, "device numbers must not be negative") }
            return "\(major):\(minor)"
        }
        if r.rdma != nil { throw refuse("rdma", "minirt writes no rdma limits; remove the field") }
        if let m = r.memory {
            // (memory.kernel: the kernel no longer enforces it; ignored, as runc 1.1 does.)
            if v2 {
                if let l = m.limit { out.append(Write("memory", "memory.max", l < 0 ? "max" : "\(l)")) }
                if let s = m.swap, has("memory", "memory.swap.max") {
                    // v2 counts swap alone; the OCI value is memory plus swap.
                    out.append(Write("memory", "memory.swap.max", s < 0 ? "max" : "\(max(0, s - (m.limit ?? 0)))"))
                }
                if let res = m.reservation { out.append(Write("memory", "memory.low", "\(res)")) }
                if m.swappiness != nil { throw refuse("memory.swappiness", "cgroup v2 has no swappiness file (it is a cgroup v1 setting)") }
                if m.disableOOMKiller == true { throw refuse("memory.disableOOMKiller", "cgroup v2 cannot turn the OOM killer off (a cgroup v1 setting)") }
                if m.kernelTCP != nil { throw refuse("memory.kernelTCP", "cgroup v2 has no TCP buffer limit") }
            } else {
                if let l = m.limit { out.append(Write("memory", "memory.limit_in_bytes", "\(l)")) }
                if let s = m.swap, has("memory", "memory.memsw.limit_in_bytes") { out.append(Write("memory", "memory.memsw.limit_in_bytes", "\(s)")) }
                if let res = m.reservation { out.append(Write("memory", "memory.soft_limit_in_bytes", "\(res)")) }
                if let t = m.kernelTCP { out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", "\(t)")) }
                if let sw = m.swappiness {
                    guard sw <= 100 else { throw refuse("memory.swappiness", "\(sw) is above 100") }
                    out.append(Write("memory", "memory.swappiness", "\(sw)"))
                }
                if m.disableOOMKiller == true { out.append(Write("memory", "memory.oom_control", "1")) }
                if m.useHierarchy == true { out.append(Write("memory", "memory.use_hierarchy", "1")) }
            }
        }
        if let c = r.cpu {
            for (name, list) in [("cpus", c.cpus), ("mems", c.mems)] {
                guard let list, !list.isEmpty else { continue }
                guard list.allSatisfy({ $0.isNumber || $0 == "," || $0 == "-" }) else {
                    throw refuse("cpu.\(name)", "\"\(list)\" is not a list like 0-3,5")
                }
                out.append(Write("cpuset", "cpuset.\(name)", list))
            }
            if v2 {
                if let s = c.shares, s > 0 {
                    // The conversion runc and crun use from shares (2-262144) to weight (1-10000).
                    out.append(Write("cpu", "cpu.weight", "\(1 + ((min(max(s, 2), 262_144) - 2) * 9999) / 262_142)"))
                }
                if c.quota != nil || c.period != nil {
                    out.append(Write("cpu", "cpu.max", "\(c.quota.map { $0 > 0 ? "\($0)" : "max" } ?? "max") \(c.period ?? 100_000)"))
                }
                if c.realtimeRuntime != nil || c.realtimePeriod != nil {
                    throw refuse("cpu.realtimeRuntime", "cgroup v2 has no real-time group scheduling files")
                }
            } else {
                if let s = c.shares { out.append(Write("cpu", "cpu.shares", "\(s)")) }
                if let p = c.period { out.append(Write("cpu", "cpu.cfs_period_us", "\(p)")) }
                if let q = c.quota { out.append(Write("cpu", "cpu.cfs_quota_us", "\(q)")) }
                if c.realtimePeriod != nil || c.realtimeRuntime != nil {
                    guard has("cpu", "cpu.rt_runtime_us") else {
                        throw refuse("cpu.realtimeRuntime", "this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED)")
                    }
                    // The period first: a runtime is checked against it.
                    if let p = c.realtimePeriod { out.append(Write("cpu", "cpu.rt_period_us", "\(p)")) }
                    if let rt = c.realtimeRuntime { out.append(Write("cpu", "cpu.rt_runtime_us", "\(rt)")) }
                }
            }
            if let idle = c.idle {
                guard has("cpu", "cpu.idle") else { throw refuse("cpu.idle", "this kernel's cpu controller has no cpu.idle") }
                out.append(Write("cpu", "cpu.idle", "\(idle)"))
            }
        }
        if let p = r.pids { out.append(Write("pids", "pids.max", p.limit > 0 ? "\(p.limit)" : "max")) }
        if let b = r.blockIO {
            if v2 {
                // io.bfq.weight takes blkio's 10-1000 as is; io.weight is 1-10000 (runc's conversion).
                let bfq = has("io", "io.bfq.weight")
                func weight(_ w: UInt16) -> String { bfq ? "\(w)" : "\(1 + (max(Int(w), 10) - 10) * 9999 / 990)" }
                let file = bfq ? "io.bfq.weight" : "io.weight"
                if (b.weight != nil || !(b.weightDevice ?? []).isEmpty) && !bfq && !has("io", "io.weight") {
                    throw refuse("blockIO.weight", "this host's io controller has no io.weight or io.bfq.weight (no BFQ or io cost scheduler)")
                }
                if let w = b.weight, w > 0 { out.append(Write("io", file, bfq ? "\(w)" : "default \(weight(w))")) }
                if b.leafWeight != nil { throw refuse("blockIO.leafWeight", "cgroup v2 has no leaf weight") }
                for d in b.weightDevice ?? [] {
                    if let w = d.weight { out.append(Write("io", file, "\(try device(d.major, d.minor, "blockIO.weightDevice")) \(weight(w))")) }
                }
                for (key, list) in [("rbps", b.throttleReadBpsDevice), ("wbps", b.throttleWriteBpsDevice),
                                    ("riops", b.throttleReadIOPSDevice), ("wiops", b.throttleWriteIOPSDevice)] {
                    for d in list ?? [] {
                        out.append(Write("io", "io.max", "\(try device(d.major, d.minor, "blockIO")) \(key)=\(d.rate == 0 ? "max" : "\(d.rate)")"))
                    }
                }
            } else {
                let prefix = has("blkio", "blkio.weight") ? "blkio" : has("blkio", "blkio.bfq.weight") ? "blkio.bfq" : nil
                if b.weight != nil || !(b.weightDevice ?? []).isEmpty {
                    guard let prefix else {
                        throw refuse("blockIO.weight", "this host has neither blkio.weight nor blkio.bfq.weight (the BFQ I/O scheduler is not in use)")
                    }
                    if let w = b.weight, w > 0 { out.append(Write("blkio", "\(prefix).weight", "\(w)")) }
                    for d in b.weightDevice ?? [] {
                        if let w = d.weight { out.append(Write("blkio", "\(prefix).weight_device", "\(try device(d.major, d.minor, "blockIO.weightDevice")) \(w)")) }
                    }
                }
                if let lw = b.leafWeight {
                    guard has("blkio", "blkio.leaf_weight") else { throw refuse("blockIO.leafWeight", "this host has no blkio.leaf_weight") }
                    out.append(Write("blkio", "blkio.leaf_weight", "\(lw)"))
                }
                for (file, list) in [("read_bps_device", b.throttleReadBpsDevice), ("write_bps_device", b.throttleWriteBpsDevice),
                                     ("read_iops_device", b.throttleReadIOPSDevice), ("write_iops_device", b.throttleWriteIOPSDevice)] {
                    for d in list ?? [] {
                        out.append(Write("blkio", "blkio.throttle.\(file)", "\(try device(d.major, d.minor, "blockIO")) \(d.rate)"))
                    }
                }
            }
        }
        for h in r.hugepageLimits ?? [] {
            let size = h.pageSize
            guard size.count >= 3, size.hasSuffix("B"), size.dropLast(2).allSatisfy(\.isNumber), "KMG".contains(size.dropLast().last!) else {
                throw refuse("hugepageLimits", "page size \"\(size)\" is not like 2MB or 1GB")
            }
            let file = v2 ? "hugetlb.\(size).max" : "hugetlb.\(size).limit_in_bytes"
            guard has("hugetlb", file) else {
                throw refuse("hugepageLimits", "this host has no \(file) (no \(size) huge pages, or no hugetlb controller on this cgroup layout)")
            }
            out.append(Write("hugetlb", file, "\(h.limit)"))
        }
        if let n = r.network {
            guard !v2 else { throw refuse("network", "cgroup v2 has no net_cls/net_prio: filter by cgroup path instead") }
            if let id = n.classID {
                guard has("net_cls", "net_cls.classid") else { throw refuse("network.classID", "this host mounts no net_cls controller") }
                out.append(Write("net_cls", "net_cls.classid", "\(id)"))
            }
            for p in n.priorities ?? [] {
                guard has("net_prio", "net_prio.ifpriomap") else { throw refuse("network.priorities", "this host mounts no net_prio controller") }
                guard !p.name.isEmpty, p.name.utf8.count < 16, p.name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }) else {
                    throw refuse("network.priorities", "\"\(p.name)\" is not an interface name")
                }
                out.append(Write("net_prio", "net_prio.ifpriomap", "\(p.name) \(p.priority)"))
            }
        }
        if let files = r.unified, !files.isEmpty {
            guard v2 else { throw refuse("unified", "it needs cgroup v2, and this host's controllers are on v1") }
            for (file, value) in files.sorted(by: { $0.key < $1.key }) {
                // A file of the cgroup's own directory, nothing else.
                guard !file.isEmpty, !file.hasPrefix("."), file.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }) else {
                    throw refuse("unified", "\"\(file)\" is not a cgroup file name")
                }
                out.append(Write("", file, value))
            }
        }
        return out
    }

    /// Changes the limits of a live cgroup (`update`); device rules stay as created.
    /// On v1 a new memory limit above the old memory+swap must follow the swap
    /// limit, and one below must precede it: the other order is tried on failure.
    public func update(_ r: OCISpec.Resources) throws {
        var rest = r
        rest.devices = nil
        do { try apply(rest) } catch where r.memory?.swap != nil && r.memory?.limit != nil {
            var swapFirst = rest
            swapFirst.memory?.limit = nil
            try apply(swapFirst)
            try apply(rest)
        }
    }

    static func deviceRule(_ r: OCISpec.DeviceRule) -> String {
        let type = r.type ?? "a"
        if type == "a" && r.major == nil && r.minor == nil && (r.access ?? "rwm") == "rwm" { return "a" }
        let major = r.major.map { "\($0)" } ?? "*"
        let minor = r.minor.map { "\($0)" } ?? "*"
        return "\(type) \(major):\(minor) \(r.access ?? "rwm")"
    }

    private func set(_ controller: String, _ file: String, _ value: String) throws {
        guard let dir = directory(controller) else {
            throw CgroupError.unsupported("\(file): this host mounts no \(controller) controller, so the limit cannot be set")
        }
        if !Self.write("\(dir)/\(file)", value) {
            throw CgroupError.io("writing \(value) to \(file)", errno)
        }
    }

    /// v1: each hierarchy's `tasks` file, open for the child to write "0" (itself).
    public func openTasks() throws -> [Int32] {
        var fds: [Int32] = []
        for dir in directories {
            let fd = open("\(dir)/tasks", O_WRONLY | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                fds.forEach { close($0) }
                throw CgroupError.io("open \(dir)/tasks", e)
            }
            fds.append(fd)
        }
        return fds
    }

    /// v2: the cgroup's directory, for clone3(CLONE_INTO_CGROUP).
    public func openDirectory() throws -> Int32 {
        guard let dir = directories.first else { throw CgroupError.io("no cgroup hierarchy", ENOENT) }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError.io("open \(dir)", errno) }
        return fd
    }

    // MARK: inside the container

    /// An OCI mount of type "cgroup" (as runc reads it) made concrete for this
    /// host: cgroup2 on v2; on v1 a tmpfs with one cgroup mount per hierarchy
    /// (made read-only at the end). Mounted from inside the container's cgroup
    /// namespace, each shows the container's own cgroup as its root. Without a
    /// cgroup namespace of its own (`ownCgroup` is the container's cgroup path),
    /// the container's directories are bound instead, as runc does: a mount
    /// would show the host's whole tree, and in a user namespace it is refused.
    /// `ownCgroup` maps a controller ("" on v2) to the container's cgroup path.
    public static func mounts(for m: OCISpec.Mount, layout: Layout = Cgroup.hostLayout, ownCgroup: [String: String]? = nil) -> [OCISpec.Mount] {
        let ro = (m.options ?? []).contains("ro")
        let base = ["nosuid", "noexec", "nodev"]
        func own(_ controller: String) -> String? {
            ownCgroup?[controller].map { $0 == "/" ? "" : $0.hasPrefix("/") ? $0 : "/" + $0 }
        }
        switch layout {
        case .v2(let root):
            if let path = own("") {
                return [OCISpec.Mount(destination: m.destination, type: "bind", source: root + path, options: ["rbind"] + base + (ro ? ["ro"] : []))]
            }
            return [OCISpec.Mount(destination: m.destination, type: "cgroup2", source: "cgroup2", options: base + (ro ? ["ro"] : []))]
        case .v1(let controllers):
            var byRoot: [String: [String]] = [:]
            for (name, root) in controllers { byRoot[root, default: []].append(name) }
            var out = [OCISpec.Mount(destination: m.destination, type: "tmpfs", source: "tmpfs", options: base + ["mode=755", "size=64k"])]
            for (root, names) in byRoot.sorted(by: { $0.key < $1.key }) {
                let dir = String(root.split(separator: "/").last ?? "")
                if ownCgroup != nil, let path = names.sorted().lazy.compactMap(own).first {
                    out.append(OCISpec.Mount(destination: "\(m.destination)/\(dir)", type: "bind", source: root + path,
                                             options: ["rbind"] + base + (ro ? ["ro"] : [])))
                } else {
                    out.append(OCISpec.Mount(destination: "\(m.destination)/\(dir)", type: "cgroup", source: "cgroup",
                                             options: base + (ro ? ["ro"] : []) + names.sorted()))
                }
            }
            if ro {
                out.append(OCISpec.Mount(destination: m.destination, type: "tmpfs", source: "tmpfs", options: ["remount", "ro"] + base))
            }
            return out
        }
    }

    /// The cgroup path of every controller (v1) and of "" (v2) of this
    /// process, from /proc/self/cgroup.
    public static func ownPaths(_ text: String? = nil) -> [String: String] {
        let text = text ?? Cgroup.read("/proc/self/cgroup")
        var out: [String: String] = [:]
        for line in (text ?? "").split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            for c in f[1].split(separator: ",", omittingEmptySubsequences: false) { out[String(c)] = String(f[2]) }
        }
        return out
    }

    /// The same path for every controller: a container's own cgroup.
    public static func samePath(_ path: String) -> [String: String] {
        Dictionary(uniqueKeysWithValues: ([""] + v1Controllers).map { ($0, path) })
    }

    // MARK: observe

    public func exists() -> Bool { directories.contains { access($0, F_OK) == 0 } }

    /// How many times the kernel's OOM killer killed a process of this cgroup.
    public func oomKills() -> UInt64 {
        let file: String
        switch layout {
        case .v1: file = "memory.oom_control"
        case .v2: file = "memory.events"
        }
        guard let dir = directory("memory"), let text = Self.read("\(dir)/\(file)") else { return 0 }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == "oom_kill", let n = UInt64(f[1]) { return n }
        }
        return 0
    }

    public struct Usage: Sendable, Equatable {
        public var cpuNanoseconds: UInt64 = 0
        public var memoryBytes: UInt64 = 0
        public var memoryLimit: UInt64?   // nil: unlimited
        public var pids: UInt64 = 0
        public init() {}
    }

    public func usage() -> Usage {
        var u = Usage()
        func number(_ c: String, _ f: String) -> UInt64? {
            directory(c).flatMap { Self.read("\($0)/\(f)") }.flatMap { UInt64($0.trimmingWhitespace()) }
        }
        func stat(_ c: String, _ f: String, _ key: String) -> UInt64? {
            guard let text = directory(c).flatMap({ Self.read("\($0)/\(f)") }) else { return nil }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
            }
            return nil
        }
        u.pids = number("pids", "pids.current") ?? 0
        switch layout {
        case .v1:
            u.cpuNanoseconds = number("cpuacct", "cpuacct.usage") ?? 0
            // Like docker stats: page cache that can be dropped is not counted.
            let used = number("memory", "memory.usage_in_bytes") ?? 0
            let inactive = stat("memory", "memory.stat", "total_inactive_file") ?? 0
            u.memoryBytes = used > inactive ? used - inactive : used
            let limit = number("memory", "memory.limit_in_bytes") ?? UInt64.max
            u.memoryLimit = limit >= (UInt64(1) << 62) ? nil : limit
        case .v2:
            u.cpuNanoseconds = (stat("cpu", "cpu.stat", "usage_usec") ?? 0) * 1000
            let used = number("memory", "memory.current") ?? 0
            let inactive = stat("memory", "memory.stat", "inactive_file") ?? 0
            u.memoryBytes = used > inactive ? used - inactive : used
            u.memoryLimit = number("memory", "memory.max")
        }
        return u
    }

    /// Bytes read and written to block devices.
    public func blockIO() -> (read: UInt64, write: UInt64) {
        var r: UInt64 = 0, w: UInt64 = 0
        switch layout {
        case .v1:
            // "8:0 Read 4096" lines, then a "Total" line.
            let text = directory("blkio").flatMap { Self.read("\($0)/blkio.throttle.io_service_bytes_recursive") } ?? ""
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count == 3, let n = UInt64(f[2]) else { continue }
                if f[1] == "Read" { r += n } else if f[1] == "Write" { w += n }
            }
        case .v2:
            // "8:0 rbytes=4096 wbytes=0 rios=1 ..."
            let text = directory("io").flatMap { Self.read("\($0)/io.stat") } ?? ""
            for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                if field.hasPrefix("rbytes="), let n = UInt64(field.dropFirst(7)) { r += n }
                if field.hasPrefix("wbytes="), let n = UInt64(field.dropFirst(7)) { w += n }
            }
        }
        return (r, w)
    }

    /// The pids in the cgroup (all hierarchies hold the same processes).
    public func processes() -> [Int32] {
        guard let dir = directories.first, let text = Self.read("\(dir)/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    // MARK: freezer (pause/resume)

    /// Freezes or thaws every process of the cgroup (v1 freezer.state, v2 cgroup.freeze).
    public func setFrozen(_ frozen: Bool) throws {
        switch layout {
        case .v2: try set("", "cgroup.freeze", frozen ? "1" : "0")
        case .v1: try set("freezer", "freezer.state", frozen ? "FROZEN" : "THAWED")
        }
    }

    public func isFrozen() -> Bool {
        switch layout {
        case .v2:
            return (directory("").flatMap { Self.read($0 + "/cgroup.freeze") } ?? "").hasPrefix("1")
        case .v1:
            let state = directory("freezer").flatMap { Self.read($0 + "/freezer.state") } ?? ""
            return state.hasPrefix("FROZEN") || state.hasPrefix("FREEZING")
        }
    }

    // MARK: remove

    /// Removes the cgroup. Processes still in it belong to this container only
    /// (its init died and the kernel is tearing its PID namespace down, or a
    /// crash left them): they get SIGKILL. Bounded: about two seconds at most.
    @discardableResult
    public func remove() -> Bool {
        for attempt in 0..<200 {
            var left = false
            for dir in directories where access(dir, F_OK) == 0 {
                if rmdir(dir) != 0 && errno != ENOENT { left = true }
            }
            if !left { return true }
            if attempt % 20 == 0 { for pid in processes() { kill(pid, SIGKILL) } }
            usleep(10_000)
        }
        return false
    }

    // MARK: files

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return Glibc.write(fd, bytes, bytes.count) == bytes.count
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

public enum CgroupError: Error, CustomStringConvertible {
    case io(String, Int32)
    /// A limit this host (or this cgroup layout) cannot carry: refused, never skipped.
    case unsupported(String)
    public var description: String {
        switch self {
        case .unsupported(let why): return why
        case .io(let what, let e): return "cgroup: \(what): \(String(cString: strerror(e)))"
        }
    }
}
