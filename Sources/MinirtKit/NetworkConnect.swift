import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// `network connect` and `network disconnect`: the container's list of
/// networks changes (kept for its later starts), and a running container gets
/// or loses the interface now, with its DNS names, /etc/hosts and resolv.conf.
extension Containers {
    public struct ConnectOptions: Sendable {
        public var ip: String?
        public var ip6: String?
        public var aliases: [String] = []
        public init() {}
    }

    public func connect(network name: String, container ref: String, _ o: ConnectOptions = ConnectOptions()) throws {
        let list = try networks.load(name)
        try networks.cni.validate(list)
        let found = refreshed(try get(ref))
        try Self.checkJoinable(found, connecting: true)
        for a in o.aliases where !Validate.isHostName(a) {
            throw RunError.invalid("invalid --alias \"\(Validate.printable(a))\": give a host name (letters, digits, -)")
        }
        try Networks.checkStatic(ip: o.ip, mac: nil, list: list, mode: list.name)
        try Networks.checkStatic6(o.ip6, list: list)
        let endpoint = ContainerRecord.EndpointConfig(network: list.name, aliases: o.aliases, ip: o.ip, ip6: o.ip6)

        // Under the start lock: no start, restart or rm of it runs meanwhile.
        let lock = store.startLockDescriptor(found.id)
        defer { if lock >= 0 { close(lock) } }
        var r = refreshed(try store.load(found.id))
        guard !r.hostConfig.endpoints.contains(where: { $0.network == list.name }), r.attachment(on: list.name) == nil else {
            throw RunError.invalid("endpoint with name \(r.name) already exists in network \(list.name): the container is connected to it")
        }
        let endpoints = r.hostConfig.endpoints
        guard let updated = try store.update(r.id, { $0.hostConfig.networks = endpoints + [endpoint] }) else {
            throw StateError.noSuchContainer(r.name)
        }
        r.hostConfig = updated.hostConfig
        guard r.state.status == .running, Self.isAlive(r) else { return }
        do {
            try attacher.attach(&r, list: list, endpoint: endpoint, upstreamDNS: Self.upstreamDNS(r.hostConfig),
                                runningPid: r.attachments.isEmpty ? r.state.pid : nil)
            // It may have exited while the plugins ran: its release did not see this attachment.
            guard Self.isAlive(r) else { throw LifecycleError.notRunning(r.name) }
            try writeDNSFiles(r, choice: .cni(name: list.name, netns: NetworkNamespace.pinPath(for: r.id)),
                              extraHosts: try extraHosts(r, list: r.network.flatMap { try? networks.load($0.network) }), running: true)
        } catch {
            _ = try? attacher.disconnect(&r, network: list.name, force: true)
            _ = try? store.update(r.id) { $0.hostConfig.networks = endpoints }
            throw error
        }
        journal.network("connect", r, network: list.name)
        // Services of the new network that select it take it in; its connects to VIPs may skip the rules.
        services.registerClient(r)
        let touched = services.affected(by: r).filter { $0.network == list.name }
        if !touched.isEmpty { try? services.sync(touched) }
    }

    public func disconnect(network name: String, container ref: String, force: Bool) throws {
        let found = refreshed(try get(ref))
        try Self.checkJoinable(found, connecting: false)
        let network = (try? networks.load(name))?.name ?? (name == "default" ? Networks.defaultName : name)
        let lock = store.startLockDescriptor(found.id)
        defer { if lock >= 0 { close(lock) } }
        var r = refreshed(try store.load(found.id))
        let endpoints = r.hostConfig.endpoints
        guard endpoints.contains(where: { $0.network == network }) || r.attachment(on: network) != nil else {
            throw RunError.invalid("container \(r.name) is not connected to network \(Validate.printable(name))")
        }
        let before = services.affected(by: r).filter { $0.network == network }
        let wasFirst = r.network?.network == network
        var warning: String?
        if r.attachment(on: network) != nil {
            warning = try attacher.disconnect(&r, network: network, force: force)
            journal.network("disconnect", r, network: network)
        }
        let remaining = endpoints.filter { $0.network != network }
        let attachments = r.attachments
        _ = try store.update(r.id) { c in
            c.hostConfig.networks = remaining
            // The next start resolves the first network left (docker's NetworkMode follows it).
            if c.hostConfig.networkMode == network, let next = remaining.first { c.hostConfig.networkMode = next.network }
            c.attachments = attachments
        }
        if !before.isEmpty { try? services.sync(before) }
        guard r.state.status == .running, Self.isAlive(r) else {
            if let warning { throw RunError.invalid("disconnected, but the network's teardown failed: \(warning)") }
            return
        }
        // The default route went with the first network: the next one takes it, as in docker.
        if wasFirst, let next = r.network, !next.gateway.isEmpty, let l = try? networks.load(next.network), Networks.hasDefaultRoute(l) {
            _ = try? Command.run("/usr/sbin/ip", ["-n", String(next.netnsPath.split(separator: "/").last ?? ""),
                                                  "route", "replace", "default", "via", next.gateway, "dev", next.ifName])
        }
        try writeDNSFiles(r, choice: .cni(name: network, netns: NetworkNamespace.pinPath(for: r.id)),
                          extraHosts: try extraHosts(r, list: r.network.flatMap { try? networks.load($0.network) }), running: true)
        if let warning { throw RunError.invalid("disconnected, but the network's teardown failed: \(warning)") }
    }

    /// docker's refusals: none, host and container: modes have no endpoints of their own.
    static func checkJoinable(_ r: ContainerRecord, connecting: Bool) throws {
        let mode = r.hostConfig.networkMode
        if mode == "host" {
            throw RunError.invalid("container cannot be disconnected from host network or connected to host network")
        }
        if mode == "none" && connecting && r.hostConfig.networks == nil {
            throw RunError.invalid("container cannot be connected to multiple networks with one of the networks in private (none) mode")
        }
        if mode.hasPrefix("container:") {
            throw RunError.invalid("container sharing network namespace with another container or host cannot be connected to any other network")
        }
    }
}
