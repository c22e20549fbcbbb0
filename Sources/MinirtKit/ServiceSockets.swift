import FoundationEssentials
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// Services' connect-time path (SocketLB): the same endpoints as the rules,
/// changed under the same runtime lock right after each nft transaction.
/// TCP ports of services without client-ip affinity only: UDP must move to a
/// live endpoint with its next datagram when one is withdrawn (a connected UDP
/// socket would not), affinity and node ports are the rules' job.
///
/// `MINIRT_SOCKET_LB=0` turns it off (everything goes through the rules, as
/// kube-proxy's nftables mode; `MINIRT_SOCKET_LB=0 minirt system gc` takes
/// out what is installed); a host without cgroup2 or bpf(2) falls back to the
/// rules alone.
extension Services {
    /// Present while this store has entries in the balancer: starts and
    /// releases check it (one access(2)) before touching a namespace.
    var socketMarker: String { runtimeDir + "/socket-lb" }

    /// Why the balancer could not be used, for explain.
    var socketOffReason: String { runtimeDir + "/socket-lb.off" }

    static var socketBalancingEnabled: Bool { ProcessInfo.processInfo.environment["MINIRT_SOCKET_LB"] != "0" }

    /// The world of this minirt: the namespace its `inet minirt` table is in.
    static var world: UInt64? { NetworkNamespace.currentCookie() }

    static func socketKeys(_ d: ServiceDefinition, world: UInt64) -> [(key: SocketLB.ServiceKey, port: ServicePort)] {
        guard !d.isHeadless, d.sessionAffinity != "ClientIP", !d.clusterIP.isEmpty else { return [] }
        return d.ports.filter { $0.proto == "tcp" }.map { (SocketLB.ServiceKey(world: world, address: d.clusterIP, port: $0.port), $0) }
    }

    /// A container whose own namespace is on a bridge network: its connects
    /// would reach the rules through the host, so they may skip them.
    static func clientNamespace(_ r: ContainerRecord) -> String? {
        guard let n = r.network, r.attachments.contains(where: { !$0.bridge.isEmpty }) else { return nil }
        return n.netnsPath
    }

    /// After the rules of these services changed: the balancer's entries
    /// follow. With `registerAll` (a first install) every live client namespace
    /// is registered; with `full` (a rebuild) stale namespaces and entries go too.
    func balanceSockets(_ changed: [(ServiceDefinition, [ServiceEndpoint])], records: [ContainerRecord], registerAll: Bool, full: Bool) {
        guard let world = Self.world else { return }
        guard Self.socketBalancingEnabled else {
            // Turned off: a rebuild takes this store's entries out (the rules serve everything).
            if full, access(socketMarker, F_OK) == 0 { try? SocketLB.with(attach: false) { lb in if let lb { release(lb, world: world) } } }
            return
        }
        let wanted = changed.flatMap { d, eps in
            Self.socketKeys(d, world: world).map { k in (k.key, eps.map { SocketLB.Backend(address: $0.address, port: k.port.targetPort) }) }
        }
        let marked = access(socketMarker, F_OK) == 0
        let adding = wanted.contains { !$0.1.isEmpty }
        guard adding || marked || full else { return }
        let registerAll = registerAll || full || !marked
        do {
            try SocketLB.with(attach: adding) { lb in
                guard let lb else { return }
                for (k, b) in wanted {
                    do { try lb.set(k, backends: b) } catch { lb.remove(k) } // the rules serve it
                }
                if registerAll || lb.isNew {
                    try lb.register(netns: world, world: world)
                    var live: Set<UInt64> = [world]
                    for r in records where r.state.status == .running && Containers.isAlive(r) {
                        guard let ns = Self.clientNamespace(r), let c = NetworkNamespace.cookie(at: ns) else { continue }
                        try lb.register(netns: c, world: world)
                        live.insert(c)
                    }
                    if full { for c in lb.clients(of: world) where !live.contains(c) { lb.unregister(netns: c) } }
                }
                if full {
                    removeEntries(lb, world: world, keeping: Set(wanted.map(\.0)))
                    lb.pruneOrphanSets()
                }
                if full && changed.isEmpty {
                    release(lb, world: world) // a rebuild with no service left
                } else if !marked {
                    // Kept while the store has services, with or without endpoints:
                    // the program stays attached and clients stay registered.
                    _ = try? StateStore.writeAtomically(Data(String(world).utf8), to: socketMarker)
                }
            }
            unlink(socketOffReason)
        } catch {
            // No balancer (no cgroup2 here, bpf refused): the rules serve every
            // connection. Kept for explain rather than printed on every start.
            let why = SocketLB.cgroupRoot == nil ? "no cgroup2 hierarchy is mounted here" : "\(error)"
            _ = try? StateStore.writeAtomically(Data(why.utf8), to: socketOffReason)
        }
    }

    /// A service going away: its entries go (the rules are removed by the
    /// caller); with the store's last service, its clients and the marker, and
    /// the program itself once no world on the host uses it.
    func unbalanceSockets(_ d: ServiceDefinition) {
        guard access(socketMarker, F_OK) == 0, let world = Self.world else { return }
        let last = !definitions.all().contains { $0.stateRoot == store.root && $0.id != d.id && !$0.isHeadless }
        try? SocketLB.with(attach: false) { lb in
            guard let lb else { unlink(socketMarker); return }
            for k in Self.socketKeys(d, world: world) { lb.remove(k.key) }
            if last { release(lb, world: world) }
        }
    }

    /// The world's entries for addresses in this store's service ranges, but those kept.
    private func removeEntries(_ lb: SocketLB, world: UInt64, keeping keep: Set<SocketLB.ServiceKey> = []) {
        let ranges = networksWithRanges().compactMap { try? IPv4Subnet($0.1) }
        for k in lb.services(of: world) where !keep.contains(k) {
            if let a = IPv4Subnet.parse(k.address), ranges.contains(where: { $0.contains(a) }) { lb.remove(k) }
        }
    }

    private func release(_ lb: SocketLB, world: UInt64) {
        removeEntries(lb, world: world)
        if lb.services(of: world).isEmpty { for c in lb.clients(of: world) { lb.unregister(netns: c) } }
        unlink(socketMarker)
        _ = lb.detachIfUnused()
    }

    /// A container whose networks are attached, before its process runs (and
    /// one unpaused): its namespace sees the services. One access(2) when this
    /// store balances nothing.
    func registerClient(_ r: ContainerRecord) {
        guard access(socketMarker, F_OK) == 0, let ns = Self.clientNamespace(r), let world = Self.world,
              let c = NetworkNamespace.cookie(at: ns) else { return }
        try? SocketLB.with(attach: false) { lb in try lb?.register(netns: c, world: world) }
    }

    /// A container withdrawn (before its signal, and in its release, while its namespace is still pinned).
    func unregisterClient(_ r: ContainerRecord) {
        guard access(socketMarker, F_OK) == 0, let ns = Self.clientNamespace(r), NetworkNamespace.isPinned(ns),
              let c = NetworkNamespace.cookie(at: ns) else { return }
        try? SocketLB.with(attach: false) { lb in lb?.unregister(netns: c) }
    }
}
