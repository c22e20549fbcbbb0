import MinirtCNI
import MinirtState

/// `minirt network inspect`'s JSON, in Docker's words.
public struct NetworkView: Encodable {
    public var Name: String
    public var Driver: String
    public var Scope = "local"
    public var EnableIPv6: Bool
    public var Internal: Bool
    public var IPAM: IPAMView
    public var Options: [String: String]
    public var ConfigFile: String
    public var Containers: [String: EndpointView]

    public struct IPAMView: Encodable {
        public var Driver: String
        public var Config: [Pool]
    }

    public struct Pool: Encodable {
        public var Subnet: String
        public var Gateway: String
    }

    public struct EndpointView: Encodable {
        public var Name: String
        public var IPv4Address: String
        public var IPv6Address: String
        public var MacAddress: String
        public var HostInterface: String
    }
}

extension Containers {
    public func networkViews() -> [NetworkView] {
        let records = store.all()
        var views = [
            NetworkView(Name: "none", Driver: "null", EnableIPv6: false, Internal: false, IPAM: .init(Driver: "", Config: []),
                        Options: [:], ConfigFile: "", Containers: [:]),
            NetworkView(Name: "host", Driver: "host", EnableIPv6: false, Internal: false, IPAM: .init(Driver: "", Config: []),
                        Options: [:], ConfigFile: "", Containers: [:]),
        ]
        for (list, file) in networks.all() {
            let first = list.plugins.first
            let subnet = Networks.subnet(of: list)
            var endpoints: [String: NetworkView.EndpointView] = [:]
            for r in records {
                guard let n = r.attachment(on: list.name) else { continue }
                endpoints[r.id] = .init(Name: r.name, IPv4Address: n.ipAddress.isEmpty ? "" : "\(n.ipAddress)/\(n.prefixLength)",
                                        IPv6Address: n.ipv6Address.map { "\($0)/\(n.ipv6PrefixLength ?? 128)" } ?? "",
                                        MacAddress: n.macAddress, HostInterface: n.hostInterface)
            }
            var options: [String: String] = [:]
            if let b = first?["bridge"]?.stringValue { options["bridge"] = b }
            if let m = first?["master"]?.stringValue { options["parent"] = m }
            if !Networks.allowsInterContainer(list) { options["com.docker.network.bridge.enable_icc"] = "false" }
            if let bw = list.plugins.first(where: { $0["type"]?.stringValue == "bandwidth" }) {
                for key in ["ingressRate", "egressRate"] { if let v = bw[key]?.int64Value { options[key == "ingressRate" ? "ingress-rate" : "egress-rate"] = "\(v)bit" } }
            }
            let hasDefaultRoute = first?["ipam"]?["routes"]?.arrayValue?.isEmpty == false
            views.append(NetworkView(
                Name: list.name, Driver: list.types.first ?? "", EnableIPv6: Networks.subnet6(of: list) != nil, Internal: !hasDefaultRoute,
                IPAM: .init(Driver: first?["ipam"]?["type"]?.stringValue ?? "",
                            Config: (subnet.map { [.init(Subnet: $0.description, Gateway: Networks.gateway(of: list) ?? "")] } ?? [])
                                + (Networks.subnet6(of: list).map { [.init(Subnet: $0.description, Gateway: Networks.gateway6(of: list) ?? "")] } ?? [])),
                Options: options, ConfigFile: file, Containers: endpoints))
        }
        return views
    }

    /// `minirt network check`: CNI CHECK of a running container's attachment.
    public func checkNetwork(_ ref: String) throws -> String {
        let r = try get(ref)
        guard r.state.status == .running else { throw RunError.invalid("container \(r.name) is not running") }
        try attacher.check(r)
        return r.attachments.map(\.network).joined(separator: ", ")
    }

    /// `network prune`: every network of this config folder that no container
    /// (of any state) and no service uses; the default network stays.
    public func pruneNetworks() -> [String] {
        networks.all().map(\.0.name).filter { $0 != Networks.defaultName }.sorted().filter { (try? removeNetwork($0)) != nil }
    }

    /// `minirt network rm`: refused while any container is attached.
    public func removeNetwork(_ name: String) throws {
        let users = store.all().filter { r in r.attachment(on: name) != nil || r.hostConfig.endpoints.contains { $0.network == name } || r.hostConfig.networkMode == name }.map(\.name)
        guard users.isEmpty else { throw NetworkError.inUse(name, users) }
        try services.removeNetworkOptions(name)
        try networks.remove(name)
    }
}
