import MinirtState

/// `ls --filter KEY=VALUE` as docker reads it: filters with the same key are
/// alternatives, different keys must all hold. Keys: label (KEY or KEY=VALUE),
/// name (a substring), id (a prefix), status, exited (an exit code), ancestor
/// (the image), network, publish and expose (PORT[/PROTO]), volume (a name or
/// a mount's destination), before and since (another container, by creation),
/// health (starting, healthy, unhealthy or none).
public struct ContainerFilter: Sendable {
    static let keys = ["label", "name", "id", "status", "exited", "ancestor", "network", "publish", "expose", "volume", "before", "since", "health"]
    var terms: [String: [String]] = [:]
    /// before/since: the creation times of the containers they name.
    var reference: [String: Timestamp] = [:]

    /// `resolve` finds the container a before/since filter names.
    public init(_ specs: [String], resolve: (String) -> ContainerRecord? = { _ in nil }) throws {
        for spec in specs {
            let kv = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, Self.keys.contains(kv[0]) else {
                throw RunError.invalid("invalid filter \"\(Validate.printable(spec))\": use one of \(Self.keys.joined(separator: ", ")) as KEY=VALUE")
            }
            if kv[0] == "health" && ![Health.starting, Health.healthy, Health.unhealthy, "none"].contains(kv[1]) {
                throw RunError.invalid("invalid filter \"\(Validate.printable(spec))\": health is starting, healthy, unhealthy or none")
            }
            if kv[0] == "exited" && Int32(kv[1]) == nil { throw RunError.invalid("invalid filter \"\(spec)\": exited takes an exit code") }
            if kv[0] == "before" || kv[0] == "since" {
                guard let r = resolve(kv[1]) else { throw RunError.invalid("invalid filter \"\(spec)\": no such container: \(kv[1])") }
                reference[kv[1]] = r.created
            }
            terms[kv[0], default: []].append(kv[1])
        }
    }

    /// Whether the filter names every container, whatever its state (docker's status and exited do).
    public var looksAtAll: Bool { terms["status"] != nil || terms["exited"] != nil }

    static func port(_ v: String) -> (UInt16?, String) {
        let p = v.split(separator: "/", maxSplits: 1).map(String.init)
        return (UInt16(p[0]), p.count > 1 ? p[1] : "tcp")
    }

    public func matches(_ r: ContainerRecord) -> Bool {
        terms.allSatisfy { key, values in
            values.contains { v in
                switch key {
                case "label":
                    let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
                    guard let have = r.config.labels[kv[0]] else { return false }
                    return kv.count == 1 || have == kv[1]
                case "name": return r.name.contains(v)
                case "id": return r.id.hasPrefix(v.lowercased())
                case "exited": return r.state.status == .exited && r.state.exitCode == Int32(v)
                case "ancestor": return r.image == v
                case "network": return r.hostConfig.networkMode == v || r.attachment(on: v) != nil || r.hostConfig.endpoints.contains { $0.network == v }
                case "publish":
                    let (port, proto) = Self.port(v)
                    return r.hostConfig.portBindings.contains { $0.containerPort == port && $0.proto == proto }
                case "expose":
                    let (port, proto) = Self.port(v)
                    return (r.config.exposedPorts ?? []).contains("\(port.map { "\($0)" } ?? "")/\(proto)")
                        || r.hostConfig.portBindings.contains { $0.containerPort == port && $0.proto == proto }
                case "volume":
                    return (r.hostConfig.security?.mounts ?? []).contains {
                        $0.destination == v || ($0.type == "volume" && $0.source.hasSuffix("/\(v)/_data"))
                    }
                case "before": return reference[v].map { r.created.nanoseconds < $0.nanoseconds } ?? false
                case "since": return reference[v].map { r.created.nanoseconds > $0.nanoseconds } ?? false
                case "health": return (r.state.status == .running ? r.state.health?.status : nil) ?? "none" == v
                default: return Containers.stateName(r) == v
                }
            }
        }
    }
}
