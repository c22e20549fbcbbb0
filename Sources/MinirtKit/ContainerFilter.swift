import MinirtState

/// `ls --filter KEY=VALUE` as docker reads it: filters with the same key are
/// alternatives, different keys must all hold. Keys: label (KEY or KEY=VALUE),
/// name (a substring), id (a prefix), status.
public struct ContainerFilter: Sendable {
    var terms: [String: [String]] = [:]

    public init(_ specs: [String]) throws {
        for spec in specs {
            let kv = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, ["label", "name", "id", "status"].contains(kv[0]) else {
                throw RunError.invalid("invalid filter \"\(Validate.printable(spec))\": use label=KEY[=VALUE], name=NAME, id=ID or status=STATUS")
            }
            terms[kv[0], default: []].append(kv[1])
        }
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
                default: return (Containers.isPaused(r) ? "paused" : r.state.status.rawValue) == v
                }
            }
        }
    }
}
