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
        if net.requestedIP != nil || net.requestedIP6 != nil {
            let list = try? NetworkConfigList(data: Data(net.config.utf8), source: "")
            var ips: [JSONValue] = []
            if let ip = net.requestedIP { ips.append(.string("\(ip)/\(list.flatMap(Networks.subnet(of:))?.prefix ?? 32)")) }
            if let ip6 = net.requestedIP6 { ips.append(.string("\(ip6)/\(list.flatMap(Networks.subnet6(of:))?.prefix ?? 128)")) }
            args["ips"] = .array(ips)
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

    /// The first interface name no attachment uses: eth0, eth1, …
    static func freeInterfaceName(_ r: ContainerRecord) -> String {
        let used = Set(r.attachments.map(\.ifName))
        return (0...).lazy.map { "eth\($0)" }.first { !used.contains($0) }!
    }

    /// ADDs one more network. The first attachment pins a new network namespace
    /// (or, for a running container left with no network, its init's) and brings
    /// up lo; it alone gets the default route and the published ports.
    func attach(_ r: inout ContainerRecord, list: NetworkConfigList, endpoint: ContainerRecord.EndpointConfig,
                ports: [PortBinding] = [], upstreamDNS: [String] = [], runningPid: Int32? = nil) throws {
        let first = r.attachments.isEmpty
        let config = first ? list : Networks.withoutDefaultRoute(list)
        var net = NetworkState(network: list.name, netnsPath: NetworkNamespace.pinPath(for: r.id), config: config.raw.text())
        net.ifName = Self.freeInterfaceName(r)
        net.ports = first ? ports : []
        net.requestedIP = endpoint.ip
        net.requestedIP6 = endpoint.ip6
        net.requestedMAC = endpoint.mac
        net.aliases = endpoint.aliases
        // One record for the three steps: undoing one that was never made is harmless
        // (a missing pin, a DEL of what was never added), forgetting one is a leak.
        net.pinned = first
        net.loopbackAdded = first && runningPid == nil
        net.addStarted = true
        let index = r.attachments.count
        r.attachments.append(net)
        try save(r)
        // enable_icc=false: its rule again before the container's veth exists (a reboot empties the tables).
        if !Networks.allowsInterContainer(list), let bridge = Networks.bridgeDevice(of: list) {
            try HostFirewall.denyInterContainer(bridge: bridge)
        }
        // Published ports get minirt's loopback guard before portmap writes its DNAT.
        let guardHold = net.ports.isEmpty ? nil : try HostFirewall.holdLoopbackGuard()
        defer { withExtendedLifetime(guardHold) {} }
        let trace = tracer(r)
        if first {
            if let pid = runningPid {
                try NetworkNamespace.pin("/proc/\(pid)/ns/net", at: net.netnsPath)
            } else {
                try NetworkNamespace.create(at: net.netnsPath)
                _ = try cni.add(Networks.loopback, Self.attachment(r, net, ifName: "lo"), trace: trace)
            }
        }

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
                    added = try cni.add(config, Self.attachment(r, net), trace: trace) { step, _ in
                        if step == 0 && launch == nil && NetworkDNS.serves(list) && !gateway.isEmpty {
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
        net.result = result.text()
        net.ipAddress = summary.ipAddress
        net.prefixLength = summary.prefixLength
        net.gateway = summary.gateway
        if !summary.ipv6Address.isEmpty {
            net.ipv6Address = summary.ipv6Address
            net.ipv6PrefixLength = summary.ipv6PrefixLength
            net.ipv6Gateway = summary.ipv6Gateway
        }
        net.macAddress = summary.macAddress
        net.hostInterface = summary.hostInterface
        net.bridge = summary.bridge
        let served = NetworkDNS.serves(list) && !summary.ipAddress.isEmpty && !summary.gateway.isEmpty
        net.dnsRegistered = served
        r.attachments[index] = net
        try save(r)

        if served {
            try dns.register(network: list.name, gateway: summary.gateway, id: r.id,
                             entry: .init(address: summary.ipAddress, names: NetworkDNS.names(for: r, network: list.name, aliases: endpoint.aliases,
                                                                                              address: summary.ipAddress, clusterDomain: domain),
                                          address6: net.ipv6Address),
                             upstream: upstreamDNS, domain: domain)
        }
        forwardNames(r)
    }

    /// A container on several networks asks the DNS server of its first: that
    /// server forwards the other networks' domains to their servers (a resolver
    /// stops at the first NXDOMAIN, so one server must answer for all).
    func forwardNames(_ r: ContainerRecord) {
        let served = r.attachments.filter { $0.dnsRegistered && !$0.gateway.isEmpty }
        guard served.count > 1, let first = served.first else { return }
        let forwards = served.dropFirst().flatMap { a -> [NetworkDNS.Forward] in
            let domain = clusterDomain(of: a.network)
            return [a.network, "\(a.network).svc.\(domain)", "\(a.network).pod.\(domain)"].map { NetworkDNS.Forward(domain: $0, server: a.gateway) }
        }
        dns(for: first).forward(network: first.network, forwards)
    }

    /// An iptables chain created by two plugin runs at once: the loser's error.
    static func lostChainRace(_ error: Error) -> Bool {
        let text = "\(error)"
        return text.contains("CHAIN_USER_ADD failed (File exists)") || text.contains("Chain already exists")
    }

    /// CNI CHECK of a live attachment: each plugin verifies what it set up is
    /// still there (the veth, the address, the routes, the NAT rules).
    func check(_ r: ContainerRecord) throws {
        let added = r.attachments.filter { $0.result != nil }
        guard !added.isEmpty else { throw RunError.invalid("container \(r.name) is not attached to a CNI network") }
        for net in added {
            let list = try NetworkConfigList(data: Data(net.config.utf8), source: "the network config saved with \(r.name)")
            try cni.check(list, Self.attachment(r, net), prevResult: try JSONValue.parse(net.result!), trace: tracer(r))
        }
    }

    /// Withdraws the container's names from each of its networks' DNS servers.
    func withdrawNames(_ r: inout ContainerRecord) {
        for i in r.attachments.indices { withdrawNames(&r, at: i) }
    }

    func withdrawNames(_ r: inout ContainerRecord, at i: Int) {
        let net = r.attachments[i]
        guard net.dnsRegistered else { return }
        dns(for: net).unregister(network: net.network, id: r.id)
        r.attachments[i].dnsRegistered = false
        _ = try? store.save(r)
    }

    /// CNI DEL of each attachment, the last first, with its stored result. On
    /// failure the attachments stay recorded (and the namespace pinned) for a retry.
    func deleteAttachments(_ r: inout ContainerRecord) throws {
        for i in r.attachments.indices.reversed() { try deleteAttachment(&r, at: i) }
    }

    func deleteAttachment(_ r: inout ContainerRecord, at i: Int) throws {
        let net = r.attachments[i]
        guard net.addStarted else { return }
        let trace = access(store.directory(r.id), F_OK) == 0 ? tracer(r) : nil
        let list = try NetworkConfigList(data: Data(net.config.utf8), source: "the network config saved with \(r.name)")
        let prev = try net.result.map { try JSONValue.parse($0) }
        try cni.del(list, Self.attachment(r, net), prevResult: prev, trace: trace)
        r.attachments[i].addStarted = false
        r.attachments[i].result = nil
        _ = try? store.save(r)
    }

    /// Unpins the namespace (destroying it: no DEL for lo, which would only set
    /// it down there), forgets every attachment and drops minirt's loopback
    /// guard if no published port is left.
    func unpin(_ r: inout ContainerRecord) {
        guard !r.attachments.isEmpty else { return }
        let published = r.attachments.contains { !$0.ports.isEmpty }
        // The pin is the container's, whichever attachment made it.
        for path in Set(r.attachments.map(\.netnsPath)) { NetworkNamespace.remove(at: path) }
        if published { HostFirewall.dropTableIfUnused() }
        r.attachments = []
        _ = try? store.save(r)
    }

    /// The network part of a release (see Release): names, DEL, pin. If DEL
    /// fails the pin stays, so a later rm can retry with the same namespace
    /// (nerdctl#1872), unless `force`: then everything is released anyway and
    /// DEL's error returned as a warning.
    @discardableResult
    func detach(_ r: inout ContainerRecord, force: Bool = false) throws -> String? {
        guard !r.attachments.isEmpty else { return nil }
        withdrawNames(&r)
        var warning: String?
        do { try deleteAttachments(&r) } catch {
            guard force else { throw error }
            warning = "\(error)"
        }
        unpin(&r)
        return warning
    }

    /// `network disconnect`: names, DEL and the record of one attachment; the
    /// last one also unpins (a running container keeps its namespace, with lo).
    @discardableResult
    func disconnect(_ r: inout ContainerRecord, network: String, force: Bool) throws -> String? {
        guard let i = r.attachments.firstIndex(where: { $0.network == network }) else { return nil }
        guard r.attachments.count > 1 else { return try detach(&r, force: force) }
        withdrawNames(&r, at: i)
        var warning: String?
        do { try deleteAttachment(&r, at: i) } catch {
            guard force else { throw error }
            warning = "\(error)"
        }
        var all = r.attachments
        let gone = all.remove(at: i)
        if i == 0 {
            // The next one becomes the first: it holds the pin and the container's flags now.
            all[0].pinned = gone.pinned
            all[0].loopbackAdded = gone.loopbackAdded
            all[0].serving = gone.serving
        }
        r.attachments = all
        _ = try? store.save(r)
        if !gone.ports.isEmpty { HostFirewall.dropTableIfUnused() }
        return warning
    }
}
