/// The facts `inspect` shows, read from a CNI result
/// (interfaces, ips and their `interface` index, as in the spec's Result type).
public struct ResultSummary: Sendable, Equatable, Codable {
    public var ipAddress = ""
    public var prefixLength = 0
    public var gateway = ""
    public var macAddress = ""
    public var ipv6Address = ""
    public var ipv6PrefixLength = 0
    public var ipv6Gateway = ""
    public var hostInterface = ""
    public var bridge = ""

    public init() {}

    public init(_ result: JSONValue, ifName: String) {
        let interfaces = result["interfaces"]?.arrayValue ?? []
        let sandboxed = interfaces.firstIndex { $0["name"]?.stringValue == ifName && $0["sandbox"] != nil }
        if let i = sandboxed { macAddress = interfaces[i]["mac"]?.stringValue ?? "" }
        for iface in interfaces where iface["sandbox"] == nil {
            let name = iface["name"]?.stringValue ?? ""
            if name.hasPrefix("veth") { hostInterface = name } else if bridge.isEmpty { bridge = name }
        }
        for ip in result["ips"]?.arrayValue ?? [] {
            if let idx = ip["interface"], case .int(let n) = idx, let s = sandboxed, Int(n) != s { continue }
            guard let cidr = ip["address"]?.stringValue else { continue }
            let parts = cidr.split(separator: "/")
            let addr = String(parts[0])
            let prefix = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            if addr.contains(":") {
                if ipv6Address.isEmpty { ipv6Address = addr; ipv6PrefixLength = prefix; ipv6Gateway = ip["gateway"]?.stringValue ?? "" }
            } else if ipAddress.isEmpty {
                ipAddress = addr
                prefixLength = prefix
                gateway = ip["gateway"]?.stringValue ?? ""
            }
        }
    }
}
