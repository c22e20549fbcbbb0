import FoundationEssentials
import MinirtCNI
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// What `minirt service create` was given, before anything is checked.
public struct ServiceRequest: Sendable {
    public var name: String
    public var ports: [String] = []
    public var nodePorts: [String] = []
    public var selector: [String] = []
    public var targets: [String] = []
    public var network: String?
    public var ip: String?
    public var sessionAffinity: String?
    public var headless = false
    public init(name: String) { self.name = name }
}

/// `service inspect`: the definition and what serves it now.
public struct ServiceView: Codable, Sendable {
    public var Name: String
    public var ID: String
    public var Network: String
    public var ClusterIP: String
    public var Headless: Bool
    public var Ports: [ServicePort]
    public var Selector: [String: String]
    public var Targets: [String]
    public var SessionAffinity: String
    public var Endpoints: [ServiceEndpoint]
    public var DNSNames: [String]
    public var Created: String
}

/// Services on one host: definitions (ServiceStore), their rules (ServiceRules,
/// written through HostFirewall), their DNS names (the network's server) and
/// endpoints that follow the containers: joined when a container is recorded
/// running, withdrawn before stop/kill/rm signal it and in the release path
/// before its address is freed. No daemon: each command that changes
/// endpoints rewrites the affected services in one nft transaction.
public struct Services: Sendable {
    let containers: Containers
    var store: StateStore { containers.store }
    var networks: Networks { containers.networks }
    public var definitions: ServiceStore { ServiceStore(networkConfigDir: networks.configDir) }
    /// What this store installed (InstalledService per service id) and the boot it did it in.
    var runtimeDir: String { store.root + "/.services" }

    /// The node-port range, as kube-apiserver's --service-node-port-range (env MINIRT_NODE_PORT_RANGE=LOW-HIGH).
    static var nodePortRange: ClosedRange<Int> {
        if let s = ProcessInfo.processInfo.environment["MINIRT_NODE_PORT_RANGE"] {
            let f = s.split(separator: "-").compactMap { Int($0) }
            if f.count == 2, f[0] >= 1, f[0] <= f[1], f[1] <= 65535 { return f[0]...f[1] }
        }
        return 30000...32767
    }

    // MARK: create, rm, ls

    public func create(_ q: ServiceRequest) throws -> (ServiceDefinition, [String]) {
        guard Self.isServiceName(q.name) else {
            throw ServiceError.invalid("invalid service name \"\(Validate.printable(q.name))\": use lower-case letters, digits and inner '-', at most 63 characters (it becomes a DNS name)")
        }
        let netName = q.network ?? Networks.defaultName
        let list = try networks.load(netName)
        guard list.types.first == "bridge", Networks.subnet(of: list) != nil else {
            throw ServiceError.invalid("network \(netName) is a \(list.types.first ?? "non-bridge") network: services need a bridge network (macvlan and ipvlan traffic bypasses the host's netfilter)")
        }
        guard HostFirewall.nft != nil else {
            throw ServiceError.invalid("nft is missing: services are nftables rules; install Debian's nftables package (apt-get install nftables)")
        }
        if !q.headless {
            guard HostFirewall.bridgeNetfilterActive() else {
                throw ServiceError.invalid("br_netfilter is not active (\(HostFirewall.bridgeNetfilter) is not 1): replies between containers on one bridge would escape the service's NAT; run modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1")
            }
        }
        if q.headless, q.ip != nil { throw ServiceError.invalid("a headless service has no virtual IP: drop --ip or --headless") }
        guard !q.ports.isEmpty || q.headless else { throw ServiceError.invalid("a service needs at least one --port PORT[:TARGETPORT][/tcp|udp]") }
        var ports = try q.ports.map(ServicePort.parse)
        for (i, p) in ports.enumerated() where ports[..<i].contains(where: { $0.port == p.port && $0.proto == p.proto }) {
            throw ServiceError.invalid("port \(p.port)/\(p.proto) is given twice: each --port needs its own port number")
        }
        guard q.nodePorts.count <= ports.count else {
            throw ServiceError.invalid("more --node-port than --port: each node port publishes the --port in the same position")
        }
        if q.headless, !q.nodePorts.isEmpty { throw ServiceError.invalid("a headless service has no rules, so no node port: drop --node-port or --headless") }
        let affinity: String
        switch (q.sessionAffinity ?? "none").lowercased() {
        case "none": affinity = "None"
        case "client-ip", "clientip": affinity = "ClientIP"
        default: throw ServiceError.invalid("invalid --session-affinity \"\(Validate.printable(q.sessionAffinity ?? ""))\": use none or client-ip")
        }
        var selector: [String: String] = [:]
        for s in q.selector {
            let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, Validate.isToken(kv[0]), kv[1].isEmpty || Validate.isToken(kv[1]) else {
                throw ServiceError.invalid("invalid --selector \"\(Validate.printable(s))\": write KEY=VALUE, as the containers' --label")
            }
            selector[kv[0]] = kv[1]
        }
        guard selector.isEmpty || q.targets.isEmpty else {
            throw ServiceError.invalid("give --selector or --target, not both: a service picks its containers one way")
        }
        guard !selector.isEmpty || !q.targets.isEmpty else {
            throw ServiceError.invalid("a service needs --selector KEY=VALUE or --target CONTAINER: which containers serve it?")
        }
        for t in q.targets where !StateStore.isValidName(t) {
            throw ServiceError.invalid("invalid --target \"\(Validate.printable(t))\": give a container name or id")
        }

        let defs = definitions
        let def: ServiceDefinition = try defs.withLock {
            let existing = defs.all()
            if access(defs.path(q.name), F_OK) == 0 { throw ServiceError.exists(q.name) }
            let options = try networkOptions(netName)
            let range = try IPv4Subnet(options.serviceRange)
            var vip = ""
            if !q.headless {
                let taken = Set(existing.map(\.clusterIP))
                if let ip = q.ip {
                    guard let a = IPv4Subnet.parse(ip), range.contains(a), a != range.network, a != range.network | ~range.mask else {
                        throw ServiceError.invalid("--ip \(Validate.printable(ip)) is outside network \(netName)'s service range \(range): choose a host address in it")
                    }
                    guard !taken.contains(IPv4Subnet.format(a)) else {
                        throw ServiceError.invalid("--ip \(ip) is in use by service \(existing.first { $0.clusterIP == IPv4Subnet.format(a) }!.name): choose another")
                    }
                    vip = IPv4Subnet.format(a)
                } else {
                    let size = UInt32(1) << UInt32(32 - range.prefix)
                    guard let a = (1..<(size - 1)).lazy.map({ range.network + $0 }).first(where: { !taken.contains(IPv4Subnet.format($0)) }) else {
                        throw ServiceError.invalid("network \(netName)'s service range \(range) is full: remove a service or recreate the network with a larger --service-range")
                    }
                    vip = IPv4Subnet.format(a)
                }
            }
            for (i, n) in q.nodePorts.enumerated() {
                ports[i].nodePort = try checkNodePort(n, proto: ports[i].proto, existing: existing, ours: ports[..<i])
            }
            let d = ServiceDefinition(id: StateStore.newID(), name: q.name, network: netName, clusterIP: vip, ports: ports,
                                      selector: selector, targets: q.targets, sessionAffinity: affinity,
                                      stateRoot: store.root, created: Timestamp.now().rfc3339)
            try defs.save(d)
            return d
        }
        do {
            try install(def)
        } catch {
            try? uninstall(def)
            try? defs.withLock { defs.remove(def) }
            throw error
        }
        var warnings: [String] = []
        if (installed(def.id)?.endpoints ?? []).isEmpty {
            warnings.append("service \(def.name) has no endpoint yet: no running container on \(netName) matches \(def.targets.isEmpty ? "the selector" : "the targets"); connections are refused until one does")
        }
        return (def, warnings)
    }

    public func remove(_ name: String) throws {
        let defs = definitions
        let d = try defs.load(name)
        try uninstall(d)
        try defs.withLock {
            defs.remove(d)
            if !defs.all().contains(where: { $0.network == d.network }), let o = defs.options(d.network) {
                // The range stays the network's; its route and reject entry go with its last service.
                Self.unroute(o.serviceRange)
                _ = try? HostFirewall.apply(ServiceRules.releaseRange(o.serviceRange))
            }
        }
        HostFirewall.dropTableIfUnused()
    }

    public func list() -> [ServiceDefinition] { definitions.all() }

    public func view(_ d: ServiceDefinition) -> ServiceView {
        let eps = installed(d.id)?.endpoints ?? []
        return ServiceView(Name: d.name, ID: d.id, Network: d.network, ClusterIP: d.isHeadless ? "None" : d.clusterIP,
                           Headless: d.isHeadless, Ports: d.ports, Selector: d.selector, Targets: d.targets,
                           SessionAffinity: d.sessionAffinity, Endpoints: eps,
                           DNSNames: Self.dnsNames(d, domain: definitions.clusterDomain(of: d.network)),
                           Created: d.created)
    }

    static func isServiceName(_ s: String) -> Bool {
        guard let f = s.first, let l = s.last, s.utf8.count <= 63, f.isLetter, l != "-" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }

    static func dnsNames(_ d: ServiceDefinition, domain: String) -> [String] {
        ["\(d.name).\(d.network).svc.\(domain)", d.name, "\(d.name).\(d.network)"]
    }

    /// The network's service range and cluster domain, allocated on its first service.
    func networkOptions(_ net: String) throws -> ServiceNetworkOptions {
        let defs = definitions
        if let o = defs.options(net) { return o }
        let o = ServiceNetworkOptions(serviceRange: try freeRange(excluding: net).description,
                                      clusterDomain: ServiceNetworkOptions.defaultClusterDomain)
        try defs.saveOptions(o, network: net)
        return o
    }

    /// `network create --service-range/--cluster-domain`: checked, then kept beside the services.
    public func setNetworkOptions(_ net: String, range: String?, clusterDomain: String?) throws {
        let defs = definitions
        let r = try range.map { s -> IPv4Subnet in
            let v = try IPv4Subnet(s)
            guard v.prefix >= 16 && v.prefix <= 28 else { throw ServiceError.invalid("--service-range \(s): give a prefix between /16 and /28") }
            try checkRangeFree(v, excluding: net)
            return v
        } ?? freeRange(excluding: net)
        let domain = clusterDomain ?? ServiceNetworkOptions.defaultClusterDomain
        guard Validate.isHostName(domain), domain.contains(".") || domain == "local" || !domain.isEmpty else {
            throw ServiceError.invalid("invalid --cluster-domain \"\(Validate.printable(domain))\": give a domain name such as cluster.local")
        }
        try defs.withLock { try defs.saveOptions(ServiceNetworkOptions(serviceRange: r.description, clusterDomain: domain), network: net) }
    }

    public func removeNetworkOptions(_ net: String) throws {
        let defs = definitions
        let users = defs.all().filter { $0.network == net }.map(\.name)
        guard users.isEmpty else {
            throw ServiceError.invalid("network \(net) has services \(users.joined(separator: ", ")): remove them first (minirt service rm)")
        }
        defs.removeOptions(net)
    }

    func checkRangeFree(_ r: IPv4Subnet, excluding net: String) throws {
        for (list, _) in networks.all() {
            if let s = Networks.subnet(of: list), s.overlaps(r) { throw ServiceError.invalid("service range \(r) overlaps network \(list.name)'s subnet \(s): choose another") }
            if list.name != net, let o = definitions.options(list.name), let s = try? IPv4Subnet(o.serviceRange), s.overlaps(r) {
                throw ServiceError.invalid("service range \(r) overlaps network \(list.name)'s service range \(s): choose another")
            }
        }
        let ours = Set(networks.all().compactMap { definitions.options($0.0.name)?.serviceRange })
        for h in networks.hostRoutes() where h.overlaps(r) && !ours.contains(h.description) {
            throw ServiceError.invalid("service range \(r) overlaps the host route \(h): choose another")
        }
    }

    func freeRange(excluding net: String) throws -> IPv4Subnet {
        let pool = try IPv4Subnet(ServiceNetworkOptions.defaultPool)
        for i in 0..<UInt32(256) {
            let r = IPv4Subnet(network: pool.network + (i << 8), prefix: 24)
            if (try? checkRangeFree(r, excluding: net)) != nil { return r }
        }
        throw ServiceError.invalid("no free /24 for services in \(pool): give network create --service-range")
    }

    func checkNodePort(_ s: String, proto: String, existing: [ServiceDefinition], ours: ArraySlice<ServicePort>) throws -> UInt16 {
        let range = Self.nodePortRange
        guard let v = Int(s), range.contains(v) else {
            throw ServiceError.invalid("invalid --node-port \"\(Validate.printable(s))\": node ports are \(range.lowerBound)-\(range.upperBound) (MINIRT_NODE_PORT_RANGE changes the range)")
        }
        let port = UInt16(v)
        if let other = existing.first(where: { $0.ports.contains { $0.nodePort == port && $0.proto == proto } }) {
            throw ServiceError.invalid("node port \(v)/\(proto) is taken by service \(other.name): choose another")
        }
        if ours.contains(where: { $0.nodePort == port && $0.proto == proto }) {
            throw ServiceError.invalid("node port \(v)/\(proto) is given twice")
        }
        for r in store.all() where r.hostConfig.portBindings.contains(where: { $0.hostPort == port && $0.proto == proto }) {
            throw ServiceError.invalid("node port \(v)/\(proto) is published by container \(r.name) (-p): choose another")
        }
        // A host socket on the port would be shadowed by the DNAT: refuse rather than steal it.
        let fd = socket(AF_INET, proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue), 0)
        defer { if fd >= 0 { close(fd) } }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if fd >= 0 && bound != 0 && errno == EADDRINUSE {
            throw ServiceError.invalid("node port \(v)/\(proto) is in use by a program on this host: choose another")
        }
        return port
    }

    // MARK: endpoints

    /// The running, live containers of this store on the service's network that it selects.
    func endpoints(of d: ServiceDefinition, in records: [ContainerRecord]) -> [ServiceEndpoint] {
        records.filter { r in
            // `serving` is the container's (kept on its first attachment); the address is the one on the service's network.
            guard r.network?.serving == true, let n = r.attachment(on: d.network),
                  IPv4Subnet.parse(n.ipAddress).map(IPv4Subnet.format) == n.ipAddress,
                  r.state.status == .running, Containers.isAlive(r) else { return false }
            return d.selects(r)
        }
        .map { ServiceEndpoint(id: $0.id, name: $0.name, address: $0.attachment(on: d.network)!.ipAddress) }
        .sorted { $0.address.numericallyPrecedes($1.address) }
    }

    /// This store's services a container may serve, on each of its networks.
    func affected(by r: ContainerRecord) -> [ServiceDefinition] {
        r.attachments.flatMap { a -> [ServiceDefinition] in
            let found = definitions.candidates(network: a.network, labels: r.config.labels, name: r.name, id: r.id) ?? []
            return found.filter { $0.network == a.network && $0.stateRoot == store.root && $0.selects(r) }
        }
    }

    /// A container just recorded running (its record says serving): its services take it in.
    /// After a reboot the first start of any container of a store with services rebuilds them all.
    func joined(_ r: ContainerRecord) {
        let services = affected(by: r)
        if services.isEmpty {
            // None of its own; with services defined, a stale boot id still means a rebuild.
            guard !isFresh, definitions.all().contains(where: { $0.stateRoot == store.root }) else { return }
        }
        try? sync(services)
    }

    /// Whether this store's records of installed rules belong to this boot.
    var isFresh: Bool {
        FileManager.default.contents(atPath: runtimeDir + "/boot_id").map { String(decoding: $0, as: UTF8.self) } == Self.bootID
    }

    /// Before a container is signalled to stop, and in its release: out of every
    /// service first, so no new connection is sent to what is going away.
    /// `recorded`: the caller's own update of the record already cleared `serving`.
    func withdraw(_ r: inout ContainerRecord, recorded: Bool = false) {
        // Once: not again in the release of a container withdrawn before its signal
        // (serving false), but also for one whose start failed before it ran (nil).
        if r.network?.serving != false { unregisterClient(r) }
        guard r.network?.serving == true || recorded else { return }
        if !recorded {
            let updated = try? store.update(r.id) { $0.network?.serving = false }
            if updated == nil { _ = try? store.save(r) }
        }
        r.network?.serving = false
        let services = affected(by: r)
        guard !services.isEmpty else { return }
        try? sync(services)
    }

    // MARK: installing

    func installedPath(_ id: String) -> String { "\(runtimeDir)/\(id).json" }

    func installed(_ id: String) -> InstalledService? {
        FileManager.default.contents(atPath: installedPath(id)).flatMap { try? JSONDecoder().decode(InstalledService.self, from: $0) }
    }

    func record(_ i: InstalledService, _ id: String) throws {
        try StateStore.writeAtomically(try JSONEncoder().encode(i), to: installedPath(id))
    }

    static var bootID: String {
        (FileManager.default.contents(atPath: "/proc/sys/kernel/random/boot_id").map { String(decoding: $0, as: UTF8.self) } ?? "")
            .trimmed()
    }

    /// Serialises this store's rule changes: each recomputes endpoints from the records under it.
    func withRuntimeLock<T>(_ body: () throws -> T) throws -> T {
        try StateStore.makeDirectory(runtimeDir)
        return try StateStore(root: runtimeDir).withLock(runtimeDir + "/.lock", body)
    }

    /// First install: the range's route (see `route`) and the rules.
    func install(_ d: ServiceDefinition) throws {
        if !d.isHeadless, let o = definitions.options(d.network) {
            try Self.route(o.serviceRange)
        }
        try sync([d])
    }

    /// A network's service range is routed via lo: host processes connect()
    /// through the route before NAT rewrites the destination, and whatever no
    /// rule rewrites stays on the host (reject-unserved answers it).
    static func route(_ range: String) throws { try Command.run("/usr/sbin/ip", ["route", "replace", range, "dev", "lo"]) }
    static func unroute(_ range: String) { _ = try? Command.run("/usr/sbin/ip", ["route", "del", range, "dev", "lo"]) }

    func uninstall(_ d: ServiceDefinition) throws {
        try withRuntimeLock {
            unbalanceSockets(d)
            let old = installed(d.id) ?? InstalledService()
            let (script, _) = ServiceRules.transaction(d, endpoints: [], old: old, remove: true, range: nil)
            if !old.chains.isEmpty || !old.elements.isEmpty || !old.sets.isEmpty {
                try HostFirewall.apply(ServiceRules.base() + script)
            }
            flushConntrack(d, removed: old.endpoints)
            unlink(installedPath(d.id))
            dnsUnregister(d)
        }
    }

    /// Rewrites these services' rules from the records, in one transaction; after
    /// a reboot (a new boot id) every service of this store is rewritten with them.
    ///
    /// An endpoint change touches only its services' chains: the shared skeleton
    /// and the range are written with a service's first install and by rebuilds
    /// (rewriting the rule that references the dispatch map makes nft load the
    /// whole map: 26 ms with 500 services). If the table was lost meanwhile, the
    /// narrow transaction fails and a full rebuild follows.
    func sync(_ services: [ServiceDefinition], rebuildAll: Bool = false) throws {
        try withRuntimeLock {
            do {
                try syncLocked(services, rebuildAll: rebuildAll)
            } catch where !rebuildAll {
                try syncLocked(services, rebuildAll: true)
            }
        }
    }

    private func syncLocked(_ services: [ServiceDefinition], rebuildAll: Bool) throws {
        var targets = services
        let fresh = isFresh
        let full = !fresh || rebuildAll
        if full {
            targets = definitions.all().filter { $0.stateRoot == store.root }
            for o in Set(targets.filter { !$0.isHeadless }.compactMap { definitions.options($0.network)?.serviceRange }) {
                try? Self.route(o)
            }
        }
        let records = store.all()
        var script = ""
        var plans: [(d: ServiceDefinition, old: InstalledService, new: InstalledService, wasInstalled: Bool)] = []
        var firstInstall = full
        for d in targets {
            let recorded = installed(d.id)
            if recorded == nil { firstInstall = true }
            // After a reboot nothing of the old boot is installed.
            let old = fresh ? (recorded ?? InstalledService()) : InstalledService()
            let eps = endpoints(of: d, in: records)
            let range = d.isHeadless || (recorded != nil && !full) ? nil : definitions.options(d.network)?.serviceRange
            let (s, new) = ServiceRules.transaction(d, endpoints: eps, old: old, range: range)
            script += s
            plans.append((d, old, new, recorded != nil))
            // What may exist once the transaction ran, written before it runs (a withdrawal's
            // old record already is that superset).
            var superset = old.union(new)
            superset.endpoints = old.endpoints
            if superset != old || recorded == nil { try record(superset, d.id) }
        }
        if !script.isEmpty || full { try HostFirewall.apply((firstInstall ? ServiceRules.base() : "") + script) }
        if !fresh { try StateStore.writeAtomically(Data(Self.bootID.utf8), to: runtimeDir + "/boot_id") }
        balanceSockets(plans.map { ($0.d, $0.new.endpoints) }, records: records, registerAll: firstInstall, full: full)
        for (d, old, new, wasInstalled) in plans {
            try record(new, d.id)
            let gone = old.endpoints.filter { !new.endpoints.contains($0) }
            flushConntrack(d, removed: gone)
            // A VIP's names never change after its first install; a headless service's follow its endpoints.
            if d.isHeadless || full || !wasInstalled { dnsRegister(d, endpoints: new.endpoints) }
            if new.endpoints.count > 0, d.ports.contains(where: { $0.nodePort != nil }) { allowLocalnet(d) }
        }
    }

    /// Node ports on 127.0.0.1: the DNATed packet leaves through the bridge with
    /// a loopback source (masqueraded after), which needs route_localnet there;
    /// the loopback guard keeps that from opening 127.0.0.1 to the LAN.
    func allowLocalnet(_ d: ServiceDefinition) {
        guard let list = try? networks.load(d.network), let bridge = list.plugins.first?["bridge"]?.stringValue,
              Validate.isToken(bridge), !bridge.contains("/"), !bridge.hasPrefix(".") else { return }
        let fd = open("/proc/sys/net/ipv4/conf/\(bridge)/route_localnet", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = write(fd, "1", 1)
        close(fd)
    }

    /// UDP has no connection end: a client keeping its source port would stay
    /// bound to a removed endpoint until its conntrack entry expires.
    func flushConntrack(_ d: ServiceDefinition, removed: [ServiceEndpoint]) {
        let udp = d.ports.filter { $0.proto == "udp" }
        guard !udp.isEmpty, !removed.isEmpty, access("/usr/sbin/conntrack", X_OK) == 0 else { return }
        for e in removed {
            for p in Set(udp.map(\.targetPort)) {
                _ = try? ChildProcess.run("/usr/sbin/conntrack", arguments: ["-D", "-p", "udp", "--reply-src", e.address, "--reply-port-src", String(p)],
                                          environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            }
        }
    }

    // MARK: DNS

    func dnsServer(_ d: ServiceDefinition) -> NetworkDNS? {
        guard let list = try? networks.load(d.network), NetworkDNS.serves(list) else { return nil }
        return containers.attacher.dns(for: list)
    }

    func dnsRegister(_ d: ServiceDefinition, endpoints: [ServiceEndpoint]) {
        guard let dns = dnsServer(d) else { return }
        let names = Self.dnsNames(d, domain: definitions.clusterDomain(of: d.network))
        let entries = d.isHeadless ? endpoints.map { NetworkDNS.Entry(address: $0.address, names: names) }
                                   : [NetworkDNS.Entry(address: d.clusterIP, names: names)]
        dns.setService(network: d.network, id: d.id, entries: entries)
    }

    func dnsUnregister(_ d: ServiceDefinition) {
        dnsServer(d)?.setService(network: d.network, id: d.id, entries: [])
    }

    // MARK: gc

    /// `system gc`: every service of this store rewritten from the records in
    /// one transaction; definitions of removed networks and stale records dropped.
    public func rebuild() -> [String] {
        var fixed: [String] = []
        let mine = definitions.all().filter { $0.stateRoot == store.root }
        let known = Set(mine.map(\.id))
        // Installed records of services whose definition is gone: their rules go.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runtimeDir)) ?? []
        for f in names where f.hasSuffix(".json") {
            let id = String(f.dropLast(5))
            guard !known.contains(id), let old = installed(id) else { continue }
            let ghost = ServiceDefinition(id: id, name: "", network: "", clusterIP: "", ports: [], selector: [:], targets: [],
                                          sessionAffinity: "None", stateRoot: store.root, created: "")
            let (script, _) = ServiceRules.transaction(ghost, endpoints: [], old: old, remove: true, range: nil)
            if (try? HostFirewall.apply(ServiceRules.base() + script)) != nil {
                unlink(installedPath(id))
                fixed.append("removed the rules of a service that no longer exists (\(id.prefix(12)))")
            }
        }
        for (net, o) in networksWithRanges() where !mine.contains(where: { $0.network == net && !$0.isHeadless }) {
            if ((try? Command.run("/usr/sbin/ip", ["route", "show", o, "dev", "lo"])) ?? "").contains(o.split(separator: "/")[0]) {
                Self.unroute(o)
                fixed.append("removed the route of network \(net)'s service range \(o), which has no service")
            }
        }
        if !mine.isEmpty {
            do { try sync(mine, rebuildAll: true) } catch { fixed.append("could not rewrite the services' rules: \(error)") }
        } else {
            // No service: whatever a crash left in the connect-time balancer for this store's ranges goes.
            _ = try? withRuntimeLock { balanceSockets([], records: store.all(), registerAll: false, full: true) }
        }
        return fixed
    }

    func networksWithRanges() -> [(String, String)] {
        let dir = definitions.directory + "/.networks"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.compactMap { f in
            let net = String(f.dropLast(5))
            return definitions.options(net).map { (net, $0.serviceRange) }
        }
    }
}

extension Containers {
    public var services: Services { Services(containers: self) }
}
