import FoundationEssentials
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// A service port: `PORT[:TARGETPORT][/tcp|udp]`, and the node port that publishes it.
public struct ServicePort: Codable, Sendable, Equatable, Hashable {
    public var port: UInt16
    public var targetPort: UInt16
    public var proto: String
    public var nodePort: UInt16?

    public init(port: UInt16, targetPort: UInt16, proto: String, nodePort: UInt16? = nil) {
        self.port = port; self.targetPort = targetPort; self.proto = proto; self.nodePort = nodePort
    }

    public static func parse(_ s: String) throws -> ServicePort {
        var body = Substring(s)
        var proto = "tcp"
        if let slash = body.lastIndex(of: "/") {
            proto = String(body[body.index(after: slash)...]).lowercased()
            body = body[..<slash]
        }
        guard proto == "tcp" || proto == "udp" else {
            throw ServiceError.invalid("invalid service port \"\(Validate.printable(s))\": the protocol must be tcp or udp")
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let port = number(parts[0]), let target = parts.count == 2 ? number(parts[1]) : port else {
            throw ServiceError.invalid("invalid service port \"\(Validate.printable(s))\": write PORT[:TARGETPORT][/tcp|udp] with ports 1-65535, e.g. 80:8080/tcp")
        }
        return ServicePort(port: port, targetPort: target, proto: proto)
    }

    static func number(_ s: Substring) -> UInt16? {
        guard let v = Int(s), (1...65535).contains(v), !s.hasPrefix("+") else { return nil }
        return UInt16(v)
    }

    public var description: String { "\(port):\(targetPort)/\(proto)" + (nodePort.map { " node port \($0)" } ?? "") }
}

/// A service: a virtual IP (or, headless, only names) in front of the
/// containers its selector or target list picks on one network.
public struct ServiceDefinition: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var network: String
    /// The virtual IP; "" for a headless service.
    public var clusterIP: String
    public var ports: [ServicePort]
    /// Containers whose labels hold all of these are endpoints.
    public var selector: [String: String]
    /// Or containers named here (names or ids).
    public var targets: [String]
    /// "None" or "ClientIP", as Kubernetes spells them.
    public var sessionAffinity: String
    /// The state root whose containers are the endpoints: one store installs a service.
    public var stateRoot: String
    public var created: String

    public var isHeadless: Bool { clusterIP.isEmpty }

    /// What reaches an nft script or a hosts file is checked again when read:
    /// a definition edited by hand cannot add a rule or a line of its own.
    var isWellFormed: Bool {
        Services.isServiceName(name) && StateStore.isValidName(network) && StateStore.isID(id)
            && (clusterIP.isEmpty || IPv4Subnet.parse(clusterIP).map(IPv4Subnet.format) == clusterIP)
            && ports.allSatisfy { ($0.proto == "tcp" || $0.proto == "udp") && $0.port > 0 && $0.targetPort > 0 }
            && ["None", "ClientIP"].contains(sessionAffinity)
    }
    /// Short and stable: rule names carry it, so two services of one name in two stores never share a chain.
    public var tag: String { String(id.prefix(6)) }

    /// Whether a container's labels or name pick it.
    public func selects(_ r: ContainerRecord) -> Bool {
        if !targets.isEmpty { return targets.contains { $0 == r.name || (r.id.hasPrefix($0) && $0.count >= 12) } }
        guard !selector.isEmpty else { return false }
        return selector.allSatisfy { r.config.labels[$0.key] == $0.value }
    }
}

/// What services need of a network beyond its conflist: where its virtual IPs
/// come from and its cluster DNS domain.
public struct ServiceNetworkOptions: Codable, Sendable, Equatable {
    public var serviceRange: String
    public var clusterDomain: String
    public static let defaultClusterDomain = "cluster.local"
    /// Carved into one /24 per network, as Kubernetes' 10.96.0.0/12 is carved for one cluster.
    public static let defaultPool = "10.96.0.0/16"
}

public enum ServiceError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case unknown(String)
    case exists(String)

    public var description: String {
        switch self {
        case .invalid(let m): return m
        case .unknown(let n): return "no such service: \(Validate.printable(n)) (minirt service ls lists them)"
        case .exists(let n): return "service \"\(n)\" already exists: choose another name or remove it first (minirt service rm \(n))"
        }
    }
}

/// Service definitions, beside the networks they live on (they persist across
/// reboots as networks do): `<cni config>/.services/NAME.json`, and per network
/// `<cni config>/.services/.networks/NET.json`.
public struct ServiceStore: Sendable {
    public let directory: String

    public init(networkConfigDir: String) { directory = networkConfigDir + "/.services" }

    func path(_ name: String) -> String { "\(directory)/\(name).json" }
    func optionsPath(_ network: String) -> String { "\(directory)/.networks/\(network).json" }

    /// Every definition; one unreadable file is skipped (and named by `service ls`'s caller, not fatal here).
    public func all() -> [ServiceDefinition] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [ServiceDefinition] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".json"), !name.hasPrefix("."),
                  let data = FileManager.default.contents(atPath: "\(directory)/\(name)"),
                  let d = try? JSONDecoder().decode(ServiceDefinition.self, from: data), d.isWellFormed else { continue }
            out.append(d)
        }
        return out.sorted { $0.name < $1.name }
    }

    public func load(_ name: String) throws -> ServiceDefinition {
        guard StateStore.isValidName(name), let data = FileManager.default.contents(atPath: path(name)) else {
            throw ServiceError.unknown(name)
        }
        let d: ServiceDefinition
        do { d = try JSONDecoder().decode(ServiceDefinition.self, from: data) } catch {
            throw ServiceError.invalid("service \(name)'s definition \(path(name)) is unreadable: \(error); remove the file")
        }
        guard d.isWellFormed, d.name == name else {
            throw ServiceError.invalid("service \(name)'s definition \(path(name)) holds invalid values: remove the file and create the service again")
        }
        return d
    }

    func save(_ d: ServiceDefinition) throws {
        try StateStore.makeDirectory(directory)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try StateStore.writeAtomically(try e.encode(d), to: path(d.name))
        try reindex(d.network)
    }

    func remove(_ d: ServiceDefinition) {
        unlink(path(d.name))
        try? reindex(d.network)
    }

    /// Which services of a network a label or a name picks, so that a container
    /// starting or stopping reads only its own services' definitions, not all of
    /// them (500 definitions cost 20 ms to read): `.index/NET.json`, rewritten
    /// with every create and rm (under the lock).
    struct Index: Codable {
        var selectors: [String: [String]] = [:]
        var targets: [String: [String]] = [:]
    }

    func indexPath(_ network: String) -> String { "\(directory)/.index/\(network).json" }

    func reindex(_ network: String) throws {
        var i = Index()
        for d in all() where d.network == network {
            for (k, v) in d.selector { i.selectors["\(k)=\(v)", default: []].append(d.name) }
            for t in d.targets { i.targets[t, default: []].append(d.name) }
        }
        if i.selectors.isEmpty && i.targets.isEmpty { unlink(indexPath(network)); return }
        try StateStore.makeDirectory(directory + "/.index")
        try StateStore.writeAtomically(try JSONEncoder().encode(i), to: indexPath(network))
    }

    /// The services on `network` that may select a container with these labels, name and id.
    func candidates(network: String, labels: [String: String], name: String, id: String) -> [ServiceDefinition]? {
        guard let data = FileManager.default.contents(atPath: indexPath(network)),
              let i = try? JSONDecoder().decode(Index.self, from: data) else { return nil }
        var names = Set<String>()
        for (k, v) in labels { names.formUnion(i.selectors["\(k)=\(v)"] ?? []) }
        for (t, n) in i.targets where t == name || (t.count >= 12 && id.hasPrefix(t)) { names.formUnion(n) }
        return names.sorted().compactMap { try? load($0) }
    }

    /// The network's options, if set and well formed (they reach `ip route`, nft, dnsmasq's
    /// arguments and resolv.conf: a file edited by hand is checked like the flags were).
    public func options(_ network: String) -> ServiceNetworkOptions? {
        guard let o = FileManager.default.contents(atPath: optionsPath(network))
                .flatMap({ try? JSONDecoder().decode(ServiceNetworkOptions.self, from: $0) }),
              let r = try? IPv4Subnet(o.serviceRange), r.description == o.serviceRange,
              Validate.isHostName(o.clusterDomain) else { return nil }
        return o
    }

    /// The network's cluster DNS domain: cluster.local unless configured.
    public func clusterDomain(of network: String) -> String {
        options(network)?.clusterDomain ?? ServiceNetworkOptions.defaultClusterDomain
    }

    func saveOptions(_ o: ServiceNetworkOptions, network: String) throws {
        try StateStore.makeDirectory(directory + "/.networks")
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StateStore.writeAtomically(try e.encode(o), to: optionsPath(network))
    }

    func removeOptions(_ network: String) { unlink(optionsPath(network)) }

    /// Held across allocation (names, VIPs, node ports) so two creates never take one.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        try StateStore.makeDirectory(directory)
        return try StateStore(root: directory).withLock(directory + "/.lock", body)
    }
}
