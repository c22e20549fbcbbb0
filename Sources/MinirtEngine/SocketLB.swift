import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Connect-time load balancing for services (Cilium's "socket LB"): a
/// `cgroup/connect4` program on the cgroup2 root rewrites the destination of a
/// TCP `connect()` to a virtual IP into one endpoint's address, once, before
/// the socket has a route. The connection's packets are then exactly those of
/// a direct connection: no DNAT, no conntrack rewrite, no trip through the
/// host's routing for a container on the same bridge (bench/services.py).
///
/// The nftables rules stay complete underneath: anything this program leaves
/// alone (UDP, node ports, client-ip affinity, a client namespace not
/// registered) is DNATed as before, so a missing entry is only slower, never
/// wrong. A stale entry would be wrong: callers change it under the same lock
/// and in the same step as the rules.
///
/// The hook runs for every process of the host in every network namespace, so
/// entries are scoped by a "world": the netns cookie of the namespace whose
/// `inet minirt` table holds the same services. Each client namespace (the
/// host's own, each container's on a bridge network) is registered as
/// cookie → world. A second program, `cgroup/getpeername4`, gives a balanced
/// socket's peer back as the VIP it connected to, as DNAT would show it:
/// connect4 records socket cookie . endpoint → VIP in an LRU map, so a socket
/// connected again elsewhere, or evicted after 16384 newer balanced
/// connections, shows its real peer. Objects are found again by name from the cgroup root
/// (BPF_PROG_QUERY), so no bpffs pin is left on disk; detaching the program
/// frees its maps. Containers cannot reach any of it: bpf(2) is refused by
/// their seccomp profile and needs CAP_BPF/CAP_SYS_ADMIN.
public final class SocketLB {
    /// A virtual IP and TCP port in one world.
    public struct ServiceKey: Hashable, Sendable {
        public var world: UInt64
        public var address: String
        public var port: UInt16
        public init(world: UInt64, address: String, port: UInt16) { self.world = world; self.address = address; self.port = port }
    }
    public struct Backend: Hashable, Sendable {
        public var address: String
        public var port: UInt16
        public init(address: String, port: UInt16) { self.address = address; self.port = port }
    }

    /// Versioned: a later layout gets a new name; the older program is detached
    /// when the new one loads, or by gc (`stale`).
    /// v2 added the peers map and the getpeername4 program.
    public static let programName = "minirt_lb_v2"
    public static let peerProgramName = "minirt_lb_peer4"
    static let olderProgramNames: Set<String> = ["minirt_lb_v1"]
    static let mapNames = (worlds: "minirt_lb_world", services: "minirt_lb_svc", backends: "minirt_lb_back", peers: "minirt_lb_peer")
    static let attachConnect4: UInt32 = 10 // BPF_CGROUP_INET4_CONNECT
    static let attachGetpeername4: UInt32 = 29 // BPF_CGROUP_INET4_GETPEERNAME
    static let mapHash: UInt32 = 1, mapLRUHash: UInt32 = 9, noPrealloc: UInt32 = 1
    static let maxWorlds: UInt32 = 16384, maxServices: UInt32 = 16384, maxBackends: UInt32 = 65536, maxPeers: UInt32 = 16384

    let cgroup: Int32
    let prog: Int32
    /// The getpeername4 program; -1 where the kernel has no such hook.
    public let peerProg: Int32
    /// Loaded by this call: nothing is registered in it yet.
    public private(set) var isNew = false
    let worlds: Int32, services: Int32, backends: Int32, peers: Int32

    private init(cgroup: Int32, prog: Int32, peerProg: Int32, maps: (Int32, Int32, Int32, Int32)) {
        self.cgroup = cgroup; self.prog = prog; self.peerProg = peerProg
        (worlds, services, backends, peers) = maps
    }

    deinit {
        for fd in [prog, peerProg, worlds, services, backends, peers] where fd >= 0 { close(fd) }
        close(cgroup) // and with it the lock
    }

    // MARK: finding, loading, detaching

    /// The cgroup2 root every process descends from: /sys/fs/cgroup on a
    /// unified host, /sys/fs/cgroup/unified on a hybrid one.
    public static var cgroupRoot: String? {
        // Only a cgroup2 directory has cgroup.controllers.
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].first { access($0 + "/cgroup.controllers", F_OK) == 0 }
    }

    /// Runs body with the balancer under a host-wide lock (flock on the cgroup2
    /// root, which every minirt of the host shares and which holds no file of
    /// ours). With `attach`, loads and attaches it if it is not there; without,
    /// body gets nil when it is absent.
    public static func with<T>(attach: Bool, _ body: (SocketLB?) throws -> T) throws -> T {
        guard let root = cgroupRoot else {
            if attach { throw EngineError.invalidSpec("no cgroup2 hierarchy is mounted: connect-time load balancing needs one") }
            return try body(nil)
        }
        let fd = try openLocked(root)
        if let found = find(cgroup: fd) { return try body(found) }
        guard attach else {
            close(fd)
            return try body(nil)
        }
        return try body(try load(cgroup: fd, root: root))
    }

    /// The cgroup2 root, opened and locked (flock, held until the descriptor closes).
    private static func openLocked(_ root: String) throws -> Int32 {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw EngineError.system("open \(root)", Errno(rawValue: errno)) }
        guard flock(fd, LOCK_EX) == 0 else {
            let e = errno
            close(fd)
            throw EngineError.system("flock \(root)", Errno(rawValue: e))
        }
        return fd
    }

    static func programIDs(cgroup: Int32, attach: UInt32 = attachConnect4) -> [UInt32] {
        var ids = [UInt32](repeating: 0, count: 64)
        var count = UInt32(ids.count)
        guard minirt_bpf_prog_query(cgroup, attach, &ids, &count) == 0 else { return [] }
        return Array(ids.prefix(Int(min(count, 64))))
    }

    /// The attached programs of one hook whose name is among `names`, opened.
    static func programs(cgroup: Int32, attach: UInt32, named names: Set<String>) -> [(fd: Int32, name: String)] {
        programIDs(cgroup: cgroup, attach: attach).compactMap { id in
            let p = minirt_bpf_prog_fd_by_id(id)
            guard p >= 0 else { return nil }
            var maps = [UInt32](repeating: 0, count: 8)
            if let n = name(ofProgram: p, maps: &maps), names.contains(n) { return (p, n) }
            close(p)
            return nil
        }
    }

    static func name(ofProgram fd: Int32, maps: inout [UInt32]) -> String? {
        var name = [CChar](repeating: 0, count: 16)
        var count = UInt32(maps.count)
        guard minirt_bpf_prog_info(fd, &name, &maps, &count) == 0 else { return nil }
        maps = Array(maps.prefix(Int(min(count, UInt32(maps.count)))))
        return String(cString: name)
    }

    private static func find(cgroup: Int32) -> SocketLB? {
        for id in programIDs(cgroup: cgroup) {
            let p = minirt_bpf_prog_fd_by_id(id)
            guard p >= 0 else { continue }
            var mapIDs = [UInt32](repeating: 0, count: 8)
            guard name(ofProgram: p, maps: &mapIDs) == programName else { close(p); continue }
            var w: Int32 = -1, s: Int32 = -1, b: Int32 = -1, r: Int32 = -1
            for m in mapIDs {
                let fd = minirt_bpf_map_fd_by_id(m)
                guard fd >= 0 else { continue }
                var n = [CChar](repeating: 0, count: 16)
                let mapName = minirt_bpf_map_name(fd, &n) == 0 ? String(cString: n) : ""
                switch mapName {
                case mapNames.worlds where w < 0: w = fd
                case mapNames.services where s < 0: s = fd
                case mapNames.backends where b < 0: b = fd
                case mapNames.peers where r < 0: r = fd
                default: close(fd)
                }
            }
            guard w >= 0, s >= 0, b >= 0, r >= 0 else {
                for fd in [w, s, b, r] where fd >= 0 { close(fd) }
                close(p)
                continue
            }
            let peer = programs(cgroup: cgroup, attach: attachGetpeername4, named: [peerProgramName])
            for extra in peer.dropFirst() { close(extra.fd) }
            return SocketLB(cgroup: cgroup, prog: p, peerProg: peer.first?.fd ?? -1, maps: (w, s, b, r))
        }
        return nil
    }

    private static func load(cgroup: Int32, root: String) throws -> SocketLB {
        func map(_ name: String, key: UInt32, value: UInt32, max: UInt32) throws -> Int32 {
            let fd = minirt_bpf_map_create(mapHash, key, value, max, noPrealloc, name)
            guard fd >= 0 else { throw EngineError.system("bpf map_create \(name)", Errno(rawValue: errno)) }
            return fd
        }
        func loadProgram(_ insns: [UInt64], attach: UInt32, name: String) throws -> Int32 {
            var log = [CChar](repeating: 0, count: 8192)
            let p = insns.withUnsafeBufferPointer {
                minirt_bpf_prog_load_sock_addr($0.baseAddress, UInt32($0.count), attach, name, &log, UInt32(log.count))
            }
            guard p >= 0 else {
                let e = errno
                let verifier = String(cString: log).split(separator: "\n").last.map { " (verifier: \($0))" } ?? ""
                throw EngineError.system("bpf prog_load \(name)\(verifier)", Errno(rawValue: e))
            }
            return p
        }
        var fds: [Int32] = []
        do {
            let w = try map(mapNames.worlds, key: 8, value: 8, max: maxWorlds); fds.append(w)
            let s = try map(mapNames.services, key: 16, value: 8, max: maxServices); fds.append(s)
            let b = try map(mapNames.backends, key: 8, value: 8, max: maxBackends); fds.append(b)
            // LRU: entries of closed sockets age out; the kernel does not allow NO_PREALLOC here.
            let fd = minirt_bpf_map_create(mapLRUHash, 16, 8, maxPeers, 0, mapNames.peers)
            guard fd >= 0 else { throw EngineError.system("bpf map_create \(mapNames.peers)", Errno(rawValue: errno)) }
            fds.append(fd)
            let p = try loadProgram(program(worlds: w, services: s, backends: b, peers: fd), attach: attachConnect4, name: programName)
            fds.append(p)
            // Without its getpeername4 hook (a kernel before 5.8), balancing still works; peers show the endpoint.
            let peer = (try? loadProgram(peerProgram(peers: fd), attach: attachGetpeername4, name: peerProgramName)) ?? -1
            if peer >= 0 { fds.append(peer) }
            // An older layout's program goes first: its entries would never be updated
            // again. Its services take the rules until they next change (or gc).
            for old in stale(cgroup: cgroup) {
                _ = minirt_bpf_prog_detach(cgroup, old.fd, old.attach)
                close(old.fd)
            }
            guard minirt_bpf_prog_attach(cgroup, p, attachConnect4) == 0 else {
                throw EngineError.system("attach \(programName) to \(root)", Errno(rawValue: errno))
            }
            if peer >= 0, minirt_bpf_prog_attach(cgroup, peer, attachGetpeername4) != 0 {
                let e = errno
                _ = minirt_bpf_prog_detach(cgroup, p, attachConnect4)
                throw EngineError.system("attach \(peerProgramName) to \(root)", Errno(rawValue: e))
            }
            let lb = SocketLB(cgroup: cgroup, prog: p, peerProg: peer, maps: (w, s, b, fd))
            lb.isNew = true
            return lb
        } catch {
            for fd in fds { close(fd) }
            close(cgroup)
            throw error
        }
    }

    /// Programs no current balancer owns: an older layout's connect4 program
    /// (its entries can no longer be kept current) and a getpeername4 program
    /// whose connect4 program is gone (a crash between the two detaches).
    static func stale(cgroup: Int32) -> [(fd: Int32, attach: UInt32, name: String)] {
        var out = programs(cgroup: cgroup, attach: attachConnect4, named: olderProgramNames)
            .map { ($0.fd, attachConnect4, "\($0.name) (cgroup/connect4, older layout)") }
        let current = programs(cgroup: cgroup, attach: attachConnect4, named: [programName])
        current.forEach { close($0.fd) }
        if current.isEmpty {
            out += programs(cgroup: cgroup, attach: attachGetpeername4, named: [peerProgramName])
                .map { ($0.fd, attachGetpeername4, "\($0.name) (cgroup/getpeername4, no connect4 program)") }
        }
        return out
    }

    /// What `stale` finds, for explain and the leak check.
    public static func staleProgramNames() -> [String] {
        underLock { cgroup in stale(cgroup: cgroup).map { close($0.fd); return $0.name } }
    }

    /// Detaches what `stale` finds (system gc); what it detached.
    public static func detachStale() -> [String] {
        underLock { cgroup in
            stale(cgroup: cgroup).compactMap { p in
                defer { close(p.fd) }
                return minirt_bpf_prog_detach(cgroup, p.fd, p.attach) == 0 ? p.name : nil
            }
        }
    }

    /// body with the cgroup2 root under the balancer's lock; nothing without one.
    private static func underLock(_ body: (Int32) -> [String]) -> [String] {
        guard let root = cgroupRoot, let fd = try? openLocked(root) else { return [] }
        defer { close(fd) }
        return body(fd)
    }

    /// Detaches the programs once no world has a service left: their maps go with them.
    public func detachIfUnused() -> Bool {
        var k = [UInt8](repeating: 0, count: 16)
        guard minirt_bpf_map_next_key(services, nil, &k) != 0 else { return false }
        if peerProg >= 0 { _ = minirt_bpf_prog_detach(cgroup, peerProg, Self.attachGetpeername4) }
        return minirt_bpf_prog_detach(cgroup, prog, Self.attachConnect4) == 0
    }

    // MARK: entries

    /// A client namespace (by its cookie) sees the world's services.
    public func register(netns cookie: UInt64, world: UInt64) throws {
        var k = Self.bytes(u64: cookie), v = Self.bytes(u64: world)
        guard minirt_bpf_map_update(worlds, &k, &v) == 0 else { throw EngineError.system("bpf update \(Self.mapNames.worlds)", Errno(rawValue: errno)) }
    }

    public func unregister(netns cookie: UInt64) {
        var k = Self.bytes(u64: cookie)
        _ = minirt_bpf_map_delete(worlds, &k)
    }

    /// The client namespaces registered in a world.
    public func clients(of world: UInt64) -> [UInt64] {
        keys(worlds, size: 8).compactMap { k in
            var key = k, v = [UInt8](repeating: 0, count: 8)
            guard minirt_bpf_map_lookup(worlds, &key, &v) == 0, Self.u64(v, 0) == world else { return nil }
            return Self.u64(k, 0)
        }
    }

    /// Points a service at a new set of backends in one step: the new set is
    /// written under a fresh id, the service switched to it, the old set freed.
    /// No backends: the service's entry goes (the rules reject or DNAT).
    public func set(_ key: ServiceKey, backends list: [Backend]) throws {
        guard var k = Self.serviceKey(key) else { throw EngineError.invalidSpec("not an IPv4 address: \(key.address)") }
        let old = entry(&k)
        guard !list.isEmpty else {
            _ = minirt_bpf_map_delete(services, &k)
            if let old { freeSet(old.set, count: old.count) }
            return
        }
        let encoded = try list.map { b -> [UInt8] in
            guard let a = Self.address(b.address) else { throw EngineError.invalidSpec("not an IPv4 address: \(b.address)") }
            return a + Self.bytes(u32: UInt32(b.port.bigEndian))
        }
        var id: UInt32 = 0
        for _ in 0..<64 {
            id = UInt32.random(in: 1...UInt32.max)
            var probe = Self.bytes(u32: id) + Self.bytes(u32: 0), v = [UInt8](repeating: 0, count: 8)
            if id != old?.set && minirt_bpf_map_lookup(backends, &probe, &v) != 0 { break }
        }
        for (slot, value) in encoded.enumerated() {
            var bk = Self.bytes(u32: id) + Self.bytes(u32: UInt32(slot)), bv = value
            guard minirt_bpf_map_update(backends, &bk, &bv) == 0 else {
                let e = errno
                freeSet(id, count: UInt32(slot))
                throw EngineError.system("bpf update \(Self.mapNames.backends)", Errno(rawValue: e))
            }
        }
        var v = Self.bytes(u32: UInt32(encoded.count)) + Self.bytes(u32: id)
        guard minirt_bpf_map_update(services, &k, &v) == 0 else {
            let e = errno
            freeSet(id, count: UInt32(encoded.count))
            throw EngineError.system("bpf update \(Self.mapNames.services)", Errno(rawValue: e))
        }
        if let old { freeSet(old.set, count: old.count) }
    }

    public func remove(_ key: ServiceKey) { try? set(key, backends: []) }

    /// The backends a service's entry sends connections to; nil when it has none.
    public func backends(of key: ServiceKey) -> [Backend]? {
        guard var k = Self.serviceKey(key), let e = entry(&k) else { return nil }
        return (0..<e.count).compactMap { slot in
            var bk = Self.bytes(u32: e.set) + Self.bytes(u32: slot), bv = [UInt8](repeating: 0, count: 8)
            guard minirt_bpf_map_lookup(backends, &bk, &bv) == 0 else { return nil }
            return Backend(address: bv[0..<4].map(String.init).joined(separator: "."), port: UInt16(bv[4]) << 8 | UInt16(bv[5]))
        }
    }

    /// Backend sets no service entry names (a writer killed between writing a
    /// set and switching to it): deleted. Under the lock no writer is midway.
    public func pruneOrphanSets() {
        let used = Set(keys(services, size: 16).compactMap { k -> UInt32? in
            var key = k
            return entry(&key)?.set
        })
        for k in keys(backends, size: 8) where !used.contains(Self.u32(k, 0)) {
            var key = k
            _ = minirt_bpf_map_delete(backends, &key)
        }
    }

    /// The world's service entries.
    public func services(of world: UInt64) -> [ServiceKey] {
        keys(services, size: 16).compactMap { k in
            guard Self.u64(k, 0) == world else { return nil }
            return ServiceKey(world: world, address: k[8..<12].map(String.init).joined(separator: "."), port: UInt16(k[12]) << 8 | UInt16(k[13]))
        }
    }

    /// Every world with a registered client or a service (explain --socket-lb).
    public func worldsInUse() -> [UInt64] {
        var all = Set(keys(services, size: 16).map { Self.u64($0, 0) })
        for k in keys(worlds, size: 8) {
            var key = k, v = [UInt8](repeating: 0, count: 8)
            if minirt_bpf_map_lookup(worlds, &key, &v) == 0 { all.insert(Self.u64(v, 0)) }
        }
        return all.sorted()
    }

    private func entry(_ k: inout [UInt8]) -> (count: UInt32, set: UInt32)? {
        var v = [UInt8](repeating: 0, count: 8)
        guard minirt_bpf_map_lookup(services, &k, &v) == 0 else { return nil }
        return (Self.u32(v, 0), Self.u32(v, 4))
    }

    private func freeSet(_ id: UInt32, count: UInt32) {
        for slot in 0..<count {
            var bk = Self.bytes(u32: id) + Self.bytes(u32: slot)
            _ = minirt_bpf_map_delete(backends, &bk)
        }
    }

    /// A map's keys (bounded by its size).
    private func keys(_ fd: Int32, size: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: size)
        var rc = minirt_bpf_map_next_key(fd, nil, &next)
        while rc == 0 && out.count < Int(Self.maxBackends) {
            out.append(next)
            var cur = next
            rc = minirt_bpf_map_next_key(fd, &cur, &next)
        }
        return out
    }

    // MARK: encoding (the program reads these as the kernel lays out bpf_sock_addr)

    /// Key of the services map: world (u64), address (network order), port (network order in the low 16 bits).
    static func serviceKey(_ k: ServiceKey) -> [UInt8]? {
        guard let a = address(k.address) else { return nil }
        return bytes(u64: k.world) + a + bytes(u32: UInt32(k.port.bigEndian))
    }

    static func address(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { p -> UInt8? in (1...3).contains(p.count) && p.allSatisfy({ $0.isASCII && $0.isNumber }) ? UInt8(p) : nil }
        return octets.count == 4 ? octets : nil
    }

    static func bytes(u64 v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    static func bytes(u32 v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) } }

    // MARK: the program

    /// cgroup/connect4, instruction by instruction (Documentation/bpf/instruction-set.rst):
    ///
    ///     if ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP: allow
    ///     world = worlds[bpf_get_netns_cookie(ctx)]            else allow
    ///     svc = services[world . ctx->user_ip4 . ctx->user_port] else allow
    ///     b = backends[svc.set . bpf_get_prandom_u32() % svc.count]
    ///     ctx->user_ip4, ctx->user_port = b.address, b.port
    ///     peers[bpf_get_socket_cookie(ctx) . b.address . b.port] = VIP . port;  allow
    ///
    /// It never refuses a connect (always returns 1): what it does not rewrite
    /// goes on to the nftables rules.
    static func program(worlds: Int32, services: Int32, backends: Int32, peers: Int32) -> [UInt64] {
        // struct bpf_sock_addr offsets.
        let userIP4: Int16 = 4, userPort: Int16 = 24, type: Int16 = 32, proto: Int16 = 36
        let getNetnsCookie: Int32 = 122, prandom: Int32 = 7, lookup: Int32 = 1, update: Int32 = 2, getSocketCookie: Int32 = 46
        var p: [UInt64] = []
        var toOut: [Int] = []
        func op(_ code: UInt8, _ dst: UInt8 = 0, _ src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) {
            p.append(DeviceFilter.insn(code, dst: dst, src: src, off: off, imm: imm))
        }
        func jumpOut(_ code: UInt8, _ dst: UInt8, imm: Int32) { toOut.append(p.count); op(code, dst, imm: imm) }
        func loadMap(_ dst: UInt8, _ fd: Int32) { op(0x18, dst, 1, imm: fd); op(0) } // ld_imm64, BPF_PSEUDO_MAP_FD
        op(0xbf, 6, 1)                                  // r6 = ctx
        op(0x61, 2, 6, off: type)                       // w2 = ctx->type
        jumpOut(0x56, 2, imm: 1)                        // if w2 != SOCK_STREAM goto out
        op(0x61, 2, 6, off: proto)
        jumpOut(0x56, 2, imm: 6)                        // if w2 != IPPROTO_TCP goto out
        op(0xbf, 1, 6)
        op(0x85, imm: getNetnsCookie)                   // r0 = bpf_get_netns_cookie(ctx)
        op(0x7b, 10, 0, off: -8)                        // *(u64 *)(fp - 8) = r0
        loadMap(1, worlds)
        op(0xbf, 2, 10); op(0x07, 2, imm: -8)
        op(0x85, imm: lookup)                           // r0 = &worlds[cookie]
        jumpOut(0x15, 0, imm: 0)                        // if r0 == NULL goto out
        op(0x79, 1, 0)                                  // r1 = world
        op(0x7b, 10, 1, off: -24)                       // key: fp-24 world, fp-16 address, fp-12 port
        op(0x61, 1, 6, off: userIP4); op(0x63, 10, 1, off: -16)
        op(0x61, 1, 6, off: userPort); op(0x63, 10, 1, off: -12)
        loadMap(1, services)
        op(0xbf, 2, 10); op(0x07, 2, imm: -24)
        op(0x85, imm: lookup)                           // r0 = &services[key]
        jumpOut(0x15, 0, imm: 0)
        op(0x61, 7, 0)                                  // w7 = count
        op(0x61, 8, 0, off: 4)                          // w8 = set
        jumpOut(0x15, 7, imm: 0)                        // no backend: leave it to the rules
        op(0x85, imm: prandom)                          // w0 = random
        op(0x9c, 0, 7)                                  // w0 %= w7
        op(0x63, 10, 8, off: -32); op(0x63, 10, 0, off: -28)
        loadMap(1, backends)
        op(0xbf, 2, 10); op(0x07, 2, imm: -32)
        op(0x85, imm: lookup)                           // r0 = &backends[set . slot]
        jumpOut(0x15, 0, imm: 0)
        op(0x61, 1, 0); op(0x63, 6, 1, off: userIP4)    // ctx->user_ip4 = address
        op(0x63, 10, 1, off: -40)                       // peer key: fp-48 cookie, fp-40 address, fp-36 port
        op(0x61, 1, 0, off: 4); op(0x63, 6, 1, off: userPort) // ctx->user_port = port
        op(0x63, 10, 1, off: -36)
        op(0xbf, 1, 6)
        op(0x85, imm: getSocketCookie)                  // r0 = bpf_get_socket_cookie(ctx)
        op(0x7b, 10, 0, off: -48)
        loadMap(1, peers)
        op(0xbf, 2, 10); op(0x07, 2, imm: -48)          // r2 = &peer key
        op(0xbf, 3, 10); op(0x07, 3, imm: -16)          // r3 = &VIP . port (the service key's tail)
        op(0xb7, 4, imm: 0)                             // BPF_ANY
        op(0x85, imm: update)                           // peers[key] = VIP . port (a full map evicts the oldest)
        let out = p.count
        op(0xb7, 0, imm: 1)                             // allow
        op(0x95)
        for i in toOut {
            let off = Int16(out - (i + 1))
            p[i] = p[i] & ~(UInt64(0xffff) << 16) | UInt64(UInt16(bitPattern: off)) << 16
        }
        return p
    }

    /// cgroup/getpeername4: a socket connect4 balanced shows the VIP and port
    /// it asked for, while its peer is still the endpoint it was given.
    ///
    ///     v = peers[bpf_get_socket_cookie(ctx) . ctx->user_ip4 . ctx->user_port]  else allow
    ///     ctx->user_ip4, ctx->user_port = v.address, v.port;  allow
    static func peerProgram(peers: Int32) -> [UInt64] {
        let userIP4: Int16 = 4, userPort: Int16 = 24
        var p: [UInt64] = []
        func op(_ code: UInt8, _ dst: UInt8 = 0, _ src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) {
            p.append(DeviceFilter.insn(code, dst: dst, src: src, off: off, imm: imm))
        }
        op(0xbf, 6, 1)                                  // r6 = ctx
        op(0xbf, 1, 6)
        op(0x85, imm: 46)                               // r0 = bpf_get_socket_cookie(ctx)
        op(0x7b, 10, 0, off: -16)                       // key: fp-16 cookie, fp-8 address, fp-4 port
        op(0x61, 1, 6, off: userIP4); op(0x63, 10, 1, off: -8)
        op(0x61, 1, 6, off: userPort); op(0x63, 10, 1, off: -4)
        op(0x18, 1, 1, imm: peers); op(0)               // r1 = peers (ld_imm64, BPF_PSEUDO_MAP_FD)
        op(0xbf, 2, 10); op(0x07, 2, imm: -16)
        op(0x85, imm: 1)                                // r0 = &peers[key]
        op(0x15, 0, off: 4, imm: 0)                     // if r0 == NULL goto out
        op(0x61, 1, 0); op(0x63, 6, 1, off: userIP4)
        op(0x61, 1, 0, off: 4); op(0x63, 6, 1, off: userPort)
        op(0xb7, 0, imm: 1)                             // out: r0 = 1 (the only value this hook takes)
        op(0x95)
        return p
    }
}

extension NetworkNamespace {
    /// The cookie of the calling thread's network namespace (SO_NETNS_COOKIE):
    /// unique for the boot, never reused, as bpf_get_netns_cookie sees it.
    public static func currentCookie() -> UInt64? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var v: UInt64 = 0
        var len = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &v, &len) == 0 else { return nil }
        return v
    }

    /// The cookie of the namespace pinned (or held) at path: the calling thread
    /// enters it for one socket and returns, as `create` does.
    public static func cookie(at path: String) -> UInt64? {
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { return nil }
        defer { close(target) }
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { return nil }
        defer { close(original) }
        guard minirt_setns(target, Int32(MINIRT_CLONE_NEWNET)) == 0 else { return nil }
        let c = currentCookie()
        if minirt_setns(original, Int32(MINIRT_CLONE_NEWNET)) != 0 {
            fatalError("cannot return to the host network namespace: \(Errno(rawValue: errno))")
        }
        return c
    }
}
