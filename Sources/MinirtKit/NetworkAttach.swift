import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// Connects a container to a CNI network and disconnects it. Each host change
/// is recorded in the container's state *before* it is made, and `detach`
/// reverses exactly what was recorded: one path for rm, a failed run, the end
/// of a `--rm` container and recovery after a crash.
struct NetworkAttacher {
    let networks: Networks
    let store: StateStore

    var cni: CNIRuntime { networks.cni }
    /// The network's DNS server state: beside the leases of the store that owns the
    /// network (Networks.owningStateDir), so two stores on one network share one server.
    func dns(for list: NetworkConfigList) -> NetworkDNS {
        NetworkDNS(root: (Networks.owningStateDir(of: list) ?? store.root) + "/.dns")
    }

    func dns(for net: NetworkState) -> NetworkDNS {
        let list = try? NetworkConfigList(data: Data(net.config.utf8), source: "the network config saved with the container")
        return list.map(dns(for:)) ?? NetworkDNS(root: store.root + "/.dns")
    }

    /// The network's cluster DNS domain (services' and pods' names): cluster.local unless configured.
    func clusterDomain(of network: String) -> String {
        ServiceStore(networkConfigDir: networks.configDir).clusterDomain(of: network)
    }

    static func portMappings(_ ports: [PortBinding]) -> JSONValue {
        .array(ports.map { p in
            .object([
                "hostPort": .int(Int64(p.hostPort)), "containerPort": .int(Int64(p.containerPort)),
                "protocol": .string(p.proto), "hostIP": .string(p.hostIP),
            ])
        })
    }

    static func attachment(_ r: ContainerRecord, _ net: NetworkState, ifName: String? = nil) -> Attachment {
        var args: [String: JSONValue] = net.ports.isEmpty ? [:] : ["portMappings": portMappings(net.ports)]
        if let ip = net.requestedIP {
            let prefix = (try? NetworkConfigList(data: Data(net.config.utf8), source: "")).flatMap(Networks.subnet(of:))?.prefix ?? 32
            args["ips"] = .array([.string("\(ip)/\(prefix)")])
        }
        if let mac = net.requestedMAC { args["mac"] = .string(mac) }
        return Attachment(containerID: r.id, netns: net.netnsPath, ifName: ifName ?? net.ifName, capabilityArgs: args)
    }

    /// Appends every plugin invocation to `<dir>/cni.log` (JSON lines): what minirt
    /// passed to each plugin and what came back, for learners and for debugging.
    func tracer(_ r: ContainerRecord) -> (Invocation) -> Void {
        let path = store.directory(r.id) + "/cni.log"
        return { inv in
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard var line = try? e.encode(inv) else { return }
            line.append(UInt8(ascii: "\n"))
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return }
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }

    private func save(_ r: ContainerRecord) throws {
        guard try store.save(r) else { throw StateError.noSuchContainer(r.name) }
    }

    /// Pins a new network namespace, brings up lo and ADDs the network.
    func attach(_ r: inout ContainerRecord, list: NetworkConfigList, ports: [PortBinding], aliases: [String] = [],
                upstreamDNS: [String] = [], ip: String? = nil, mac: String? = nil) throws {
        var net = NetworkState(network: list.name, netnsPath: NetworkNamespace.pinPath(for: r.id), config: list.raw.text())
        net.ports = ports
        net.requestedIP = ip
        net.requestedMAC = mac
        net.aliases = aliases
        // One record for the three steps: undoing one that was never made is harmless
        // (a missing pin, a DEL of what was never added), forgetting one is a leak.
        net.pinned = true
        net.loopbackAdded = true
        net.addStarted = true
        r.network = net
        try save(r)
        // enable_icc=false: its rule again before the container's veth exists (a reboot empties the tables).
        if !Networks.allowsInterContainer(list), let bridge = Networks.bridgeDevice(of: list) {
            try HostFirewall.denyInterContainer(bridge: bridge)
        }
        // Published ports get minirt's loopback guard before portmap writes its DNAT.
        let guardHold = ports.isEmpty ? nil : try HostFirewall.holdLoopbackGuard()
        defer { withExtendedLifetime(guardHold) {} }
        try NetworkNamespace.create(at: net.netnsPath)

        let trace = tracer(r)
        _ = try cni.add(Networks.loopback, Self.attachment(r, net, ifName: "lo"), trace: trace)

        // The network's DNS server starts as soon as the bridge (and its gateway
        // address) exists, while the rest of the chain runs.
        let gateway = Networks.gateway(of: list) ?? ""
        let dns = dns(for: list)
        let domain = clusterDomain(of: list.name)
        var launch: NetworkDNS.Launch?
        var added: JSONValue?
        do {
            var attempt = 0
            while added == nil {
                do {
                    added = try cni.add(list, Self.attachment(r, net), trace: trace) { index, _ in
                        if index == 0 && launch == nil && NetworkDNS.serves(list) && !gateway.isEmpty {
                            launch = dns.beginStart(network: list.name, gateway: gateway, upstream: upstreamDNS, domain: domain)
                        }
                    }
                } catch where attempt < 3 && Self.lostChainRace(error) {
                    // The firewall plugin (1.1.1) checks for its isolation chains and then
                    // creates them: two first ADDs at once on a new host, and the slower
                    // one fails with "File exists". The failed ADD was undone (DEL); the
                    // chain exists now, so the next ADD passes.
                    attempt += 1
                    usleep(UInt32(20_000 * attempt))
                }
            }
        } catch {
            if let launch {
                try? dns.finish(launch, network: list.name, gateway: gateway)
                dns.stopIfUnused(network: list.name)
            }
            throw error
        }
        if let launch {
            do { try dns.finish(launch, network: list.name, gateway: gateway) } catch {
                dns.stopIfUnused(network: list.name)
                throw error
            }
        }
        guard let result = added else { throw RunError.invalid("CNI ADD gave no result") }
        let summary = ResultSummary(result, ifName: net.ifName)
        r.network!.result = result.text()
        r.network!.ipAddress = summary.ipAddress
        r.network!.prefixLength = summary.prefixLength
        r.network!.gateway = summary.gateway
        r.network!.macAddress = summary.macAddress
        r.network!.hostInterface = summary.hostInterface
        r.network!.bridge = summary.bridge
        let served = NetworkDNS.serves(list) && !summary.ipAddress.isEmpty && !summary.gateway.isEmpty
        r.network!.dnsRegistered = served
        try save(r)

        if served {
            try dns.register(network: list.name, gateway: summary.gateway, id: r.id,
                             entry: .init(address: summary.ipAddress, names: NetworkDNS.names(for: r, network: list.name, aliases: aliases,
                                                                                              address: summary.ipAddress, clusterDomain: domain)),
                             upstream: upstreamDNS, domain: domain)
        }
    }

    /// An iptables chain created by two plugin runs at once: the loser's error.
    static func lostChainRace(_ error: Error) -> Bool {
        let text = "\(error)"
        return text.contains("CHAIN_USER_ADD failed (File exists)") || text.contains("Chain already exists")
    }

    /// CNI CHECK of a live attachment: each plugin verifies what it set up is
    /// still there (the veth, the address, the routes, the NAT rules).
    func check(_ r: ContainerRecord) throws {
        guard let net = r.network, let result = net.result else {
            throw RunError.invalid("container \(r.name) is not attached to a CNI network")
        }
        let list = try NetworkConfigList(data: Data(net.config.utf8), source: "the network config saved with \(r.name)")
        try cni.check(list, Self.attachment(r, net), prevResult: try JSONValue.parse(result), trace: tracer(r))
    }

    /// Withdraws the container's names from its network's DNS server.
    func withdrawNames(_ r: inout ContainerRecord) {
        guard let net = r.network, net.dnsRegistered else { return }
        dns(for: net).unregister(network: net.network, id: r.id)
        r.network!.dnsRegistered = false
        _ = try? store.save(r)
    }

    /// CNI DEL of what was added, in reverse, with the stored result. On failure
    /// the attachment stays recorded (and the namespace pinned) for a retry.
    func deleteAttachment(_ r: inout ContainerRecord) throws {
        guard let net = r.network, net.addStarted else { return }
        let trace = access(store.directory(r.id), F_OK) == 0 ? tracer(r) : nil
        let list = try NetworkConfigList(data: Data(net.config.utf8), source: "the network config saved with \(r.name)")
        let prev = try net.result.map { try JSONValue.parse($0) }
        try cni.del(list, Self.attachment(r, net), prevResult: prev, trace: trace)
        r.network!.addStarted = false
        r.network!.result = nil
        _ = try? store.save(r)
    }

    /// Unpins the namespace (destroying it: no DEL for lo, which would only set
    /// it down there) and drops minirt's loopback guard if no published port is left.
    func unpin(_ r: inout ContainerRecord) {
        guard let net = r.network else { return }
        if net.pinned { NetworkNamespace.remove(at: net.netnsPath) }
        if !net.ports.isEmpty { HostFirewall.dropTableIfUnused() }
        r.network = nil
        _ = try? store.save(r)
    }

    /// The network part of a release (see Release): names, DEL, pin. If DEL
    /// fails the pin stays, so a later rm can retry with the same namespace
    /// (nerdctl#1872), unless `force`: then everything is released anyway and
    /// DEL's error returned as a warning.
    @discardableResult
    func detach(_ r: inout ContainerRecord, force: Bool = false) throws -> String? {
        guard r.network != nil else { return nil }
        withdrawNames(&r)
        var warning: String?
        do { try deleteAttachment(&r) } catch {
            guard force else { throw error }
            warning = "\(error)"
        }
        unpin(&r)
        return warning
    }
}
