import FoundationEssentials
import MinirtCNI
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

public enum NetworkError: Error, CustomStringConvertible, Equatable {
    case unknown(String, dir: String)
    case exists(String)
    case badSubnet(String, String)
    case badSubnet6(String, String)
    /// An option this network cannot have, with why.
    case refused(String)
    case overlaps(String, with: String)
    case inUse(String, [String])
    case builtin(String)
    case invalidName(String)

    public var description: String {
        switch self {
        case .unknown(let n, let dir):
            return "unknown network \"\(n)\": use none, host, bridge, container:NAME or a network from minirt network ls (conflists in \(dir))"
        case .exists(let n): return "network \"\(n)\" already exists: choose another name or remove it first"
        case .refused(let why): return why
        case .badSubnet(let s, let why): return "invalid subnet \"\(s)\": \(why); write an IPv4 CIDR such as 10.42.0.0/24"
        case .badSubnet6(let s, let why): return "invalid IPv6 subnet \"\(s)\": \(why)"
        case .overlaps(let s, let other):
            return "subnet \(s) overlaps \(other): choose a subnet that no host route or other network uses"
        case .inUse(let n, let names):
            return "network \"\(n)\" is in use by \(names.joined(separator: ", ")): remove those containers first"
        case .builtin(let n): return "\"\(n)\" is a built-in network mode and cannot be created or removed"
        case .invalidName(let n): return "invalid network name \"\(n)\": only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed"
        }
    }
}

/// An IPv4 prefix.
public struct IPv4Subnet: Equatable, Sendable, CustomStringConvertible {
    public var network: UInt32
    public var prefix: Int

    public init(_ cidr: String) throws {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let p = Int(parts[1]), (8...30).contains(p) else {
            throw NetworkError.badSubnet(cidr, "the prefix length must be between /8 and /30")
        }
        guard let a = IPv4Subnet.parse(String(parts[0])) else { throw NetworkError.badSubnet(cidr, "not an IPv4 address") }
        let mask: UInt32 = p == 0 ? 0 : ~UInt32(0) << (32 - p)
        guard a & ~mask == 0 else { throw NetworkError.badSubnet(cidr, "host bits are set (did you mean \(IPv4Subnet.format(a & mask))/\(p)?)") }
        network = a
        prefix = p
    }

    init(network: UInt32, prefix: Int) { self.network = network; self.prefix = prefix }

    public var mask: UInt32 { prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix) }
    public var description: String { "\(Self.format(network))/\(prefix)" }
    public var firstHost: String { Self.format(network + 1) }

    public func contains(_ address: UInt32) -> Bool { address & mask == network }
    public func overlaps(_ o: IPv4Subnet) -> Bool {
        let m = prefix < o.prefix ? mask : o.mask
        return network & m == o.network & m
    }

    public static func parse(_ s: String) -> UInt32? {
        var a = in_addr()
        guard inet_pton(AF_INET, s, &a) == 1 else { return nil }
        return UInt32(bigEndian: a.s_addr)
    }

    public static func format(_ v: UInt32) -> String { "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)" }
}

/// Networks are CNI conflists in minirt's own config folder (default
/// /etc/minirt/cni/net.d): any valid conflist placed there is usable by name.
/// The default `bridge` network is written there on first use.
public struct Networks: Sendable {
    public static let defaultConfigDir = "/etc/minirt/cni/net.d"
    public static let defaultName = "bridge"
    public static let defaultBridge = "minirt0"
    /// Not Docker's 172.17.0.0/16 nor Podman's 10.88.0.0/16; the first that no host route uses.
    public static let defaultSubnets = ["10.99.0.0/16", "10.98.0.0/16", "172.29.0.0/16"]

    public let configDir: String
    /// IPAM leases live under the state root, which a reboot clears (plugins#252).
    public let ipamDir: String
    public let cni: CNIRuntime

    /// docker's daemon.json, for what minirt takes from it: `"ipv6": true` and
    /// `"fixed-cidr-v6"` make the default network dual stack when it is first written.
    public static let defaultSettingsFile = "/etc/minirt/minirt.json"
    public let settingsFile: String

    public init(configDir: String, stateRoot: String, cni: CNIRuntime, settingsFile: String = Networks.defaultSettingsFile) {
        self.configDir = configDir
        self.ipamDir = "\(stateRoot)/.ipam"
        self.cni = cni
        self.settingsFile = settingsFile
    }

    /// The default network's IPv6 half from the settings file, if it asks for one.
    func defaultIPv6() throws -> IPv6Plan? {
        guard let data = FileManager.default.contents(atPath: settingsFile) else { return nil }
        func bad(_ why: String) -> NetworkError { .refused("invalid \(settingsFile): \(why)") }
        guard let doc = try? JSONValue.parse(data), let o = doc.objectValue else { throw bad("not a JSON object") }
        for key in o.keys where !["ipv6", "fixed-cidr-v6"].contains(key) {
            throw bad("unknown key \"\(Validate.printable(key))\" (minirt reads ipv6 and fixed-cidr-v6)")
        }
        if let v = o["ipv6"], v.boolValue == nil { throw bad("\"ipv6\" must be true or false") }
        guard o["ipv6"]?.boolValue == true else {
            if o["fixed-cidr-v6"] != nil { throw bad("\"fixed-cidr-v6\" needs \"ipv6\": true") }
            return nil
        }
        if let v = o["fixed-cidr-v6"] {
            guard let cidr = v.stringValue else { throw bad("\"fixed-cidr-v6\" must be a string such as \"fd00:99::/64\"") }
            return IPv6Plan(subnet: cidr)
        }
        return IPv6Plan()
    }

    /// The loopback attachment every CNI container gets for `lo`.
    public static let loopback = try! NetworkConfigList(
        data: Data(#"{"cniVersion":"1.0.0","name":"minirt-loopback","plugins":[{"type":"loopback"}]}"#.utf8),
        source: "built-in loopback")

    // MARK: lookup

    public func file(for name: String) -> String { "\(configDir)/\(name).conflist" }

    /// Loads a network by name: `<name>.conflist` first, then any conflist in the
    /// folder whose `name` matches. A malformed file by that name is an error.
    public func load(_ name: String) throws -> NetworkConfigList {
        guard StateStore.isValidName(name) else { throw NetworkError.invalidName(name) }
        if name == Self.defaultName && access(file(for: name), F_OK) != 0 { try writeDefault() }
        if access(file(for: name), F_OK) == 0 { return try NetworkConfigList(file: file(for: name)) }
        for (list, _) in all() where list.name == name { return list }
        throw NetworkError.unknown(name, dir: configDir)
    }

    /// Every readable network, with its file; malformed files are skipped here.
    public func all() -> [(NetworkConfigList, String)] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: configDir)) ?? [])
            .filter { $0.hasSuffix(".conflist") || $0.hasSuffix(".conf") || $0.hasSuffix(".json") }.sorted()
        return files.compactMap { f in
            let path = "\(configDir)/\(f)"
            return (try? NetworkConfigList(file: path)).map { ($0, path) }
        }
    }

    // MARK: create / remove

    func writeDefault() throws {
        // Many first runs at once must agree on one subnet: the first writes it,
        // the others find it written once they hold the lock.
        try StateStore.makeDirectory(configDir)
        let lock = open("\(configDir)/.default.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw RunError.invalid("cannot create \(configDir)/.default.lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        if access(file(for: Self.defaultName), F_OK) == 0 { return }
        let routes = hostRoutes()
        let taken = all().compactMap { Self.subnet(of: $0.0) }
        let subnet = try Self.defaultSubnets.lazy.map { try IPv4Subnet($0) }
            .first { s in !routes.contains { $0.overlaps(s) } && !taken.contains { $0.overlaps(s) } }
            ?? IPv4Subnet(Self.defaultSubnets[0])
        let ipv6 = try defaultIPv6().map { try plan6($0, name: Self.defaultName) }
        try write(Self.bridgeConfig(name: Self.defaultName, bridge: Self.defaultBridge, subnet: subnet,
                                    gateway: subnet.firstHost, isInternal: false, ipamDir: ipamDir, ipv6: ipv6))
    }

    /// A host-local range: the subnet, its gateway, and with --ip-range where addresses come from.
    public struct AddressRange: Sendable, Equatable {
        public var subnet: String
        public var gateway: String
        public var start: String?
        public var end: String?
        public init(subnet: String, gateway: String, start: String? = nil, end: String? = nil) {
            self.subnet = subnet; self.gateway = gateway; self.start = start; self.end = end
        }

        var json: JSONValue {
            var o: [String: JSONValue] = ["subnet": .string(subnet), "gateway": .string(gateway)]
            if let start { o["rangeStart"] = .string(start) }
            if let end { o["rangeEnd"] = .string(end) }
            return .object(o)
        }
    }

    public static func bridgeConfig(name: String, bridge: String, subnet: IPv4Subnet, gateway: String,
                                    isInternal: Bool, ipamDir: String, ipMasq: Bool = true, isolated: Bool = true, mtu: Int? = nil,
                                    interContainer: Bool = true, bandwidth: Bandwidth = Bandwidth(),
                                    range4: (String, String)? = nil, ipv6: AddressRange? = nil) -> JSONValue {
        // One range set per family: host-local gives one address of each (dual stack).
        let v4 = AddressRange(subnet: subnet.description, gateway: gateway, start: range4?.0, end: range4?.1)
        let ranges = [v4] + (ipv6.map { [$0] } ?? [])
        let defaults = isInternal ? [] : ["0.0.0.0/0"] + (ipv6 == nil ? [] : ["::/0"])
        let ipam: JSONValue = .object([
            "type": .string("host-local"),
            "ranges": .array(ranges.map { .array([$0.json]) }),
            "routes": .array(defaults.map { .object(["dst": .string($0)]) }),
            "dataDir": .string(ipamDir),
        ])
        // minirt's own settings, beside the plugins (runtimes ignore unknown conflist keys).
        let own: [String: JSONValue] = interContainer ? [:] : ["minirt": .object(["enableICC": .bool(false)])]
        return .object(own.merging([
            "cniVersion": .string("1.0.0"),
            "name": .string(name),
            "plugins": .array([
                .object([
                    "type": .string("bridge"), "bridge": .string(bridge), "isGateway": .bool(true),
                    "ipMasq": .bool(ipMasq && !isInternal), "hairpinMode": .bool(true), "ipam": ipam,
                    // --ip (host-local reads runtimeConfig.ips) and --mac-address.
                    "capabilities": .object(["ips": .bool(true), "mac": .bool(true)]),
                ].merging(mtu.map { ["mtu": .int(Int64($0))] } ?? [:]) { a, _ in a }),
                .object(["type": .string("portmap"), "capabilities": .object(["portMappings": .bool(true)])]),
            ] + bandwidth.plugin + [
                // Docker's default: no traffic between different bridge networks (the
                // plugin's CNI-ISOLATION-STAGE-1/2 chains); -o isolate=false opts out.
                .object(isolated ? ["type": .string("firewall"), "ingressPolicy": .string("same-bridge")] : ["type": .string("firewall")]),
            ]),
        ]) { a, _ in a })
    }

    /// `-o ingress-rate=`/`egress-rate=` (and bursts): the bandwidth plugin in
    /// the chain, shaping each container's veth (tbf; an ifb device for egress).
    public struct Bandwidth: Sendable, Equatable {
        /// Bits per second and bits, as the plugin takes them.
        public var ingressRate: Int64 = 0, ingressBurst: Int64 = 0, egressRate: Int64 = 0, egressBurst: Int64 = 0
        public init() {}

        var plugin: [JSONValue] {
            guard ingressRate > 0 || egressRate > 0 else { return [] }
            var p: [String: JSONValue] = ["type": .string("bandwidth")]
            // A burst of a tenth of a second's worth, at least a few full frames, unless given.
            func burst(_ rate: Int64, _ given: Int64) -> Int64 { given > 0 ? given : max(rate / 10, 8 * 1500 * 4) }
            if ingressRate > 0 { p["ingressRate"] = .int(ingressRate); p["ingressBurst"] = .int(burst(ingressRate, ingressBurst)) }
            if egressRate > 0 { p["egressRate"] = .int(egressRate); p["egressBurst"] = .int(burst(egressRate, egressBurst)) }
            return [.object(p)]
        }

        /// tc's rate words: 10mbit, 512kbit, 1gbit, or bits per second; bursts take the same.
        public static func bits(_ text: String, option: String) throws -> Int64 {
            let units: [(String, Int64)] = [("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1000), ("bit", 1), ("", 1)]
            let lower = text.lowercased()
            for (unit, factor) in units where lower.hasSuffix(unit) {
                let number = lower.dropLast(unit.count)
                guard !number.isEmpty, number.allSatisfy(\.isNumber), let n = Int64(number), n > 0, n <= Int64.max / factor / 8 else { break }
                return n * factor
            }
            throw NetworkError.refused("invalid -o \(option)=\(Validate.printable(text)): give a rate such as 10mbit, 512kbit or 1gbit (bits per second)")
        }
    }

    /// The network as a container's second (third, …) attachment: no default
    /// route (the first network's is the container's) and no default gateway.
    static func withoutDefaultRoute(_ list: NetworkConfigList) -> NetworkConfigList {
        func strip(_ plugin: JSONValue) -> JSONValue {
            guard var p = plugin.objectValue else { return plugin }
            if p["isDefaultGateway"] != nil { p["isDefaultGateway"] = .bool(false) }
            if var ipam = p["ipam"]?.objectValue, let routes = ipam["routes"]?.arrayValue {
                ipam["routes"] = .array(routes.filter { !["0.0.0.0/0", "::/0"].contains($0["dst"]?.stringValue ?? "") })
                p["ipam"] = .object(ipam)
            }
            return .object(p)
        }
        guard var doc = list.raw.objectValue else { return list }
        if let plugins = doc["plugins"]?.arrayValue { doc["plugins"] = .array(plugins.map(strip)) } else { doc = strip(list.raw).objectValue ?? doc }
        return (try? NetworkConfigList(data: JSONValue.object(doc).encoded(), source: list.name)) ?? list
    }

    /// Whether the network gives its containers a default route (it is not --internal).
    static func hasDefaultRoute(_ list: NetworkConfigList) -> Bool {
        list.plugins.contains { p in
            p["isDefaultGateway"]?.boolValue == true
                || (p["ipam"]?["routes"]?.arrayValue ?? []).contains { ["0.0.0.0/0", "::/0"].contains($0["dst"]?.stringValue ?? "") }
        }
    }

    /// Whether containers of the network may reach each other (enable_icc; a bridge's only).
    public static func allowsInterContainer(_ list: NetworkConfigList) -> Bool {
        list.raw["minirt"]?["enableICC"]?.boolValue != false
    }

    /// The bridge device of a bridge network.
    static func bridgeDevice(of list: NetworkConfigList) -> String? {
        list.types.first == "bridge" ? list.plugins.first?["bridge"]?.stringValue : nil
    }

    public static func macvlanConfig(name: String, driver: String, parent: String, subnet: IPv4Subnet,
                                     gateway: String, isInternal: Bool, ipamDir: String) -> JSONValue {
        var ipamRanges: JSONValue = .object(["subnet": .string(subnet.description), "gateway": .string(gateway)])
        if isInternal { ipamRanges = .object(["subnet": .string(subnet.description)]) }
        return .object([
            "cniVersion": .string("1.0.0"),
            "name": .string(name),
            "plugins": .array([.object([
                "type": .string(driver), "master": .string(parent),
                "capabilities": .object(["ips": .bool(true)]),
                "ipam": .object([
                    "type": .string("host-local"), "ranges": .array([.array([ipamRanges])]),
                    "routes": .array(isInternal ? [] : [.object(["dst": .string("0.0.0.0/0")])]),
                    "dataDir": .string(ipamDir),
                ]),
            ])]),
        ])
    }

    /// `minirt network create`: writes a conflist after checking the subnet is free.
    /// The IPv6 half of `network create --ipv6`: a subnet (default: a random unique
    /// local /64), its gateway, an --ip-range inside it.
    public struct IPv6Plan: Sendable {
        public var subnet: String?
        public var gateway: String?
        public var ipRange: String?
        public init(subnet: String? = nil, gateway: String? = nil, ipRange: String? = nil) {
            self.subnet = subnet; self.gateway = gateway; self.ipRange = ipRange
        }
    }

    /// --ip-range inside the subnet, as host-local's first and last address (never the network's, broadcast or gateway).
    static func range4(_ cidr: String, in subnet: IPv4Subnet) throws -> (String, String) {
        let r = try IPv4Subnet(cidr)
        guard subnet.contains(r.network), r.prefix >= subnet.prefix else {
            throw NetworkError.badSubnet(subnet.description, "the --ip-range \(cidr) is not inside it")
        }
        let last = r.network | ~r.mask, broadcast = subnet.network | ~subnet.mask
        return (IPv4Subnet.format(r.network == subnet.network ? r.network + 1 : r.network),
                IPv4Subnet.format(last == broadcast ? last - 1 : last))
    }

    func plan6(_ p: IPv6Plan, name: String) throws -> AddressRange {
        let subnet: IPv6Subnet
        if let cidr = p.subnet { subnet = try IPv6Subnet(cidr) } else {
            // docker 27's: a unique local /64 nobody uses.
            var pick = IPv6Subnet.randomUniqueLocal()
            for _ in 0..<8 where all().contains(where: { Self.subnet6(of: $0.0)?.overlaps(pick) == true }) { pick = IPv6Subnet.randomUniqueLocal() }
            subnet = pick
        }
        for (list, _) in all() {
            if let s = Self.subnet6(of: list), s.overlaps(subnet) { throw NetworkError.overlaps(subnet.description, with: "network \(list.name) (\(s))") }
        }
        for r in hostRoutes6() where r.overlaps(subnet) { throw NetworkError.overlaps(subnet.description, with: "the host route \(r)") }
        let gw = p.gateway.flatMap(IPv6Subnet.canonical) ?? p.gateway ?? subnet.firstHost
        guard let g = IPv6Subnet.parse(gw), subnet.contains(g), g != (subnet.high, subnet.low) else {
            throw NetworkError.badSubnet6(subnet.description, "the gateway \(Validate.printable(gw)) is not a host address inside it")
        }
        var range = AddressRange(subnet: subnet.description, gateway: gw)
        if let cidr = p.ipRange {
            let r = try IPv6Subnet(cidr)
            guard subnet.contains((r.high, r.low)), r.prefix >= subnet.prefix else {
                throw NetworkError.badSubnet6(subnet.description, "the --ip-range \(cidr) is not inside it")
            }
            range.start = r.high == subnet.high && r.low == subnet.low ? r.firstHost : IPv6Subnet.format(r.high, r.low)
            range.end = r.lastHost
        }
        return range
    }

    public func create(name: String, subnet cidr: String, gateway: String?, driver: String,
                       isInternal: Bool, parent: String?, ipMasq: Bool = true, isolated: Bool = true,
                       bridgeName: String? = nil, mtu: Int? = nil, interContainer: Bool = true,
                       bandwidth: Bandwidth = Bandwidth(), ipRange: String? = nil, ipv6: IPv6Plan? = nil) throws -> NetworkConfigList {
        guard StateStore.isValidName(name) else { throw NetworkError.invalidName(name) }
        guard !["none", "host", "default", "container"].contains(name) else { throw NetworkError.builtin(name) }
        if access(file(for: name), F_OK) == 0 || all().contains(where: { $0.0.name == name }) {
            throw NetworkError.exists(name)
        }
        let subnet = try IPv4Subnet(cidr)
        // Other networks first: their bridges' routes would also match, with a vaguer message.
        for (list, _) in all() {
            if let s = Self.subnet(of: list), s.overlaps(subnet) { throw NetworkError.overlaps(subnet.description, with: "network \(list.name) (\(s))") }
        }
        for r in hostRoutes() where r.overlaps(subnet) { throw NetworkError.overlaps(subnet.description, with: "the host route \(r)") }
        if name != Self.defaultName, let s = try? IPv4Subnet(Self.defaultSubnets[0]), access(file(for: Self.defaultName), F_OK) != 0, s.overlaps(subnet) {
            throw NetworkError.overlaps(subnet.description, with: "the default network's subnet \(s)")
        }
        let gw = gateway ?? subnet.firstHost
        guard let g = IPv4Subnet.parse(gw), subnet.contains(g), g != subnet.network else {
            throw NetworkError.badSubnet(cidr, "the gateway \(gw) is not a host address inside it")
        }
        let range4 = try ipRange.map { try Self.range4($0, in: subnet) }
        if (ipv6 != nil || ipRange != nil) && driver != "bridge" {
            throw NetworkError.refused("--ipv6 and --ip-range are for bridge networks here (macvlan and ipvlan take one IPv4 subnet)")
        }
        let v6 = try ipv6.map { try plan6($0, name: name) }
        let doc: JSONValue
        switch driver {
        case "bridge":
            // docker's com.docker.network.bridge.name and .driver.mtu.
            if let b = bridgeName {
                guard (1...15).contains(b.utf8.count), b.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw NetworkError.badSubnet(cidr, "bridge name \"\(Validate.printable(b))\" is not an interface name of 1 to 15 letters, digits, - _ .")
                }
                if let other = all().first(where: { $0.0.plugins.first?["bridge"]?.stringValue == b }) {
                    throw NetworkError.badSubnet(cidr, "bridge \(b) belongs to network \(other.0.name) already")
                }
                if access("/sys/class/net/\(b)", F_OK) == 0 && access("/sys/class/net/\(b)/bridge", F_OK) != 0 {
                    throw NetworkError.badSubnet(cidr, "\(b) is an interface of this host that is not a bridge: choose another name")
                }
            }
            if let m = mtu, !(68...65535).contains(m) {
                throw NetworkError.badSubnet(cidr, "MTU \(m) is outside 68-65535")
            }
            doc = Self.bridgeConfig(name: name, bridge: bridgeName ?? Self.bridgeName(for: name), subnet: subnet, gateway: gw,
                                    isInternal: isInternal, ipamDir: ipamDir, ipMasq: ipMasq, isolated: isolated, mtu: mtu,
                                    interContainer: interContainer, bandwidth: bandwidth, range4: range4, ipv6: v6)
        case "macvlan", "ipvlan":
            guard bandwidth == Bandwidth() else { throw NetworkError.refused("ingress-rate and egress-rate are for bridge networks") }
            guard interContainer else {
                throw NetworkError.refused("enable_icc=false is for bridge networks: macvlan and ipvlan traffic bypasses the host's netfilter")
            }
            guard let parent = parent ?? Self.defaultRouteInterface() else {
                throw NetworkError.badSubnet(cidr, "no parent interface: give --opt parent=IFACE")
            }
            doc = Self.macvlanConfig(name: name, driver: driver, parent: parent, subnet: subnet, gateway: gw,
                                     isInternal: isInternal, ipamDir: ipamDir)
        default:
            throw NetworkError.badSubnet(cidr, "unknown driver \"\(driver)\" (use bridge, macvlan or ipvlan)")
        }
        try write(doc)
        let list = try NetworkConfigList(file: file(for: name))
        if !interContainer, let bridge = Self.bridgeDevice(of: list) {
            do { try HostFirewall.denyInterContainer(bridge: bridge) } catch {
                unlink(file(for: name))
                throw NetworkError.refused("\(error)")
            }
        }
        return list
    }

    func write(_ doc: JSONValue) throws {
        try StateStore.makeDirectory(configDir)
        try StateStore.writeAtomically(doc.encoded(pretty: true) + Data("\n".utf8), to: file(for: doc["name"]?.stringValue ?? "x"))
    }

    /// Removes the conflist, the bridge device minirt made for it and its leases.
    public func remove(_ name: String) throws {
        guard !["none", "host"].contains(name) else { throw NetworkError.builtin(name) }
        let list = try load(name)
        let path = access(file(for: name), F_OK) == 0 ? file(for: name) : all().first { $0.0.name == name }!.1
        unlink(path)
        if let bridge = list.plugins.first?["bridge"]?.stringValue, list.types.first == "bridge" {
            _ = try? Command.run("/usr/sbin/ip", ["link", "delete", bridge, "type", "bridge"]) // absent is fine
            Self.dropIsolationRules(bridge: bridge)
            if !Self.allowsInterContainer(list) { HostFirewall.allowInterContainer(bridge: bridge) }
        }
        let ipam = list.plugins.first?["ipam"]?["dataDir"]?.stringValue ?? ipamDir
        try? FileManager.default.removeItem(atPath: "\(ipam)/\(name)")
    }

    /// The firewall plugin's ingressPolicy leaves its per-bridge rules on DEL (it
    /// cannot know whether the bridge is still in use); the network's owner
    /// removes them with the network, and gc those of bridges that are gone.
    static func dropIsolationRules(bridge: String) {
        // By number, highest first: the plugin's rules carry a comment an exact -D would have to repeat.
        for (chain, column) in [("CNI-ISOLATION-STAGE-1", 6), ("CNI-ISOLATION-STAGE-2", 7)] {
            guard let text = try? Command.run("/usr/sbin/iptables", ["-w", "-t", "filter", "-v", "-n", "-L", chain, "--line-numbers"]) else { continue }
            let numbers = text.split(separator: "\n").compactMap { line -> Int? in
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > column, let n = Int(f[0]), f[column] == bridge else { return nil }
                return n
            }
            for n in numbers.sorted(by: >) { _ = try? Command.run("/usr/sbin/iptables", ["-w", "-t", "filter", "-D", chain, "\(n)"]) }
        }
    }

    /// Isolation rules naming minirt bridges (minirt0, mr-*) that no longer exist: what gc drops.
    static func staleIsolationBridges() -> [String] {
        guard let text = try? Command.run("/usr/sbin/iptables", ["-w", "-t", "filter", "-S", "CNI-ISOLATION-STAGE-2"]) else { return [] }
        var stale: [String] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let o = f.firstIndex(of: "-o"), o + 1 < f.count else { continue }
            let bridge = String(f[o + 1])
            guard bridge == defaultBridge || bridge.hasPrefix("mr-"), access("/sys/class/net/\(bridge)", F_OK) != 0, !stale.contains(bridge) else { continue }
            stale.append(bridge)
        }
        return stale
    }

    // MARK: facts

    /// The folder that owns a network's leases and DNS server: the one whose
    /// `.ipam` the conflist names as host-local's dataDir (the store that wrote
    /// it), so that every store using the network shares one lease pool and one
    /// DNS server; nil for conflists minirt did not write.
    public static func owningStateDir(of list: NetworkConfigList) -> String? {
        guard let dataDir = list.plugins.first?["ipam"]?["dataDir"]?.stringValue, dataDir.hasSuffix("/.ipam") else { return nil }
        return String(dataDir.dropLast(6))
    }

    /// Every folder whose leases and DNS entries this store's networks use: its own and the networks' owners'.
    public func stateDirs(own: String) -> [String] {
        var dirs = [own]
        for (list, _) in all() { if let d = Self.owningStateDir(of: list), !dirs.contains(d) { dirs.append(d) } }
        return dirs
    }

    /// --ip and --mac-address against the network, before anything is made
    /// (docker's rules): a static address only on a network of the user's own,
    /// inside its subnet, not its network, broadcast or gateway address, not
    /// leased; a MAC unicast and not zero; both only where the network's first
    /// plugin declares the capability (networks made before minirt did cannot).
    /// -p on an IPv6 host address needs a dual-stack network, and never ::1:
    /// Linux has no route_localnet for IPv6 and portmap masquerades only IPv4's
    /// localhost, so DNAT cannot carry it (docker needs its userland proxy).
    public static func checkPublished(_ ports: [PortBinding], list: NetworkConfigList) throws {
        for p in ports where p.hostIP.contains(":") {
            if IPv6Subnet.canonical(p.hostIP) == "::1" {
                throw RunError.invalid("cannot publish on [::1]:\(p.hostPort): IPv6 loopback cannot be forwarded into a container (no route_localnet for IPv6, and minirt runs no userland proxy); publish on [::] or a host address")
            }
            guard subnet6(of: list) != nil else {
                throw RunError.invalid("cannot publish on [\(p.hostIP)]:\(p.hostPort): network \(list.name) has no IPv6 subnet (network create --ipv6 makes one)")
            }
        }
    }

    /// --ip6 against the network: inside its IPv6 subnet, not its gateway.
    public static func checkStatic6(_ ip6: String?, list: NetworkConfigList) throws {
        guard let ip6 else { return }
        guard let subnet = subnet6(of: list) else {
            throw RunError.invalid("--ip6 \(Validate.printable(ip6)): network \(list.name) has no IPv6 subnet (network create --ipv6 makes one)")
        }
        guard let a = IPv6Subnet.parse(ip6) else { throw RunError.invalid("invalid --ip6 \(Validate.printable(ip6)): give an IPv6 address such as fd00:42::10") }
        guard subnet.contains(a) else {
            throw RunError.invalid("--ip6 \(ip6) is outside network \(list.name)'s subnet \(subnet): give an address inside it")
        }
        guard a != (subnet.high, subnet.low), IPv6Subnet.canonical(ip6) != gateway6(of: list).flatMap(IPv6Subnet.canonical) else {
            throw RunError.invalid("--ip6 \(ip6) is network \(list.name)'s network or gateway address: give a host address")
        }
        let dataDir = list.plugins.first?["ipam"]?["dataDir"]?.stringValue ?? ""
        if !dataDir.isEmpty, access("\(dataDir)/\(list.name)/\(IPv6Subnet.format(a.0, a.1))", F_OK) == 0 {
            throw RunError.invalid("--ip6 \(ip6) is already in use on network \(list.name): choose another address")
        }
    }

    public static func checkStatic(ip: String?, mac: String?, list: NetworkConfigList?, mode: String) throws {
        if let mac {
            let octets = mac.split(separator: ":", omittingEmptySubsequences: false)
            guard octets.count == 6, octets.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }),
                  let first = UInt8(octets[0], radix: 16), first & 1 == 0, octets.contains(where: { $0 != "00" }) else {
                throw RunError.invalid("invalid --mac-address \(mac): give a unicast address such as 02:42:ac:11:00:02")
            }
        }
        guard ip != nil || mac != nil else { return }
        guard let list else {
            throw RunError.invalid("--ip and --mac-address need a network of minirt's: the network mode \(mode) has no interface of the container's own")
        }
        let caps = list.plugins.first?["capabilities"]?.objectValue ?? [:]
        if let mac, caps["mac"]?.boolValue != true {
            throw RunError.invalid("--mac-address \(mac): network \(list.name) does not take a MAC address (its plugin declares no mac capability; networks made before minirt 0.2 need to be created again)")
        }
        guard let ip else { return }
        guard list.name != defaultName else {
            throw RunError.invalid("--ip \(ip): user specified IP addresses are supported on user defined networks only (minirt network create), as in docker")
        }
        guard caps["ips"]?.boolValue == true else {
            throw RunError.invalid("--ip \(ip): network \(list.name) does not take static addresses (created before minirt could): create it again")
        }
        guard let address = IPv4Subnet.parse(ip) else { throw RunError.invalid("invalid --ip \(ip): give an IPv4 address such as 10.42.0.10") }
        guard let subnet = subnet(of: list), subnet.contains(address) else {
            throw RunError.invalid("--ip \(ip) is outside network \(list.name)'s subnet \(subnet(of: list)?.description ?? "?"): give an address inside it")
        }
        let broadcast = subnet.network | ~subnet.mask
        guard address != subnet.network, address != broadcast, IPv4Subnet.format(address) != gateway(of: list) else {
            throw RunError.invalid("--ip \(ip) is network \(list.name)'s network, broadcast or gateway address: give a host address")
        }
        // host-local's lease files are named by address: a taken one is refused now,
        // clearly (host-local would refuse it at ADD too, in its words).
        let dataDir = list.plugins.first?["ipam"]?["dataDir"]?.stringValue ?? ""
        if !dataDir.isEmpty, access("\(dataDir)/\(list.name)/\(IPv4Subnet.format(address))", F_OK) == 0 {
            throw RunError.invalid("--ip \(ip) is already in use on network \(list.name): choose another address")
        }
    }

    public static func subnet(of list: NetworkConfigList) -> IPv4Subnet? {
        let ipam = list.plugins.first?["ipam"]
        let s = ipam?["ranges"]?.arrayValue?.first?.arrayValue?.first?["subnet"]?.stringValue ?? ipam?["subnet"]?.stringValue
        return s.flatMap { try? IPv4Subnet($0) }
    }

    public static func gateway(of list: NetworkConfigList) -> String? {
        let ipam = list.plugins.first?["ipam"]
        return ipam?["ranges"]?.arrayValue?.first?.arrayValue?.first?["gateway"]?.stringValue ?? ipam?["gateway"]?.stringValue
            ?? subnet(of: list)?.firstHost
    }

    /// Linux caps interface names at 15 bytes: `mr-NAME`, or `mr-` and a hash.
    public static func bridgeName(for network: String) -> String {
        let plain = "mr-\(network)"
        if plain.utf8.count <= 15 { return plain }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in network.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "mr-" + String((String(repeating: "0", count: 16 - hex.count) + hex).prefix(10))
    }

    /// IPv4 routes of the host (from /proc/net/route), the default route excepted.
    func hostRoutes() -> [IPv4Subnet] {
        guard let text = FileManager.default.contents(atPath: "/proc/net/route").map({ String(decoding: $0, as: UTF8.self) }) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count > 7, let dst = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16), mask != 0 else { return nil }
            let d = UInt32(bigEndian: dst), m = UInt32(bigEndian: mask)
            return IPv4Subnet(network: d & m, prefix: m.nonzeroBitCount)
        }
    }

    static func defaultRouteInterface() -> String? {
        guard let text = FileManager.default.contents(atPath: "/proc/net/route").map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if f.count > 7, f[1] == "00000000", f[7] == "00000000" { return String(f[0]) }
        }
        return nil
    }
}

/// Runs a helper program (iproute2) and returns its output; throws on failure.
enum Command {
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> String {
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let out = try ChildProcess.run(path, arguments: args, environment: env)
        let text = String(decoding: out.stdout + out.stderr, as: UTF8.self)
        guard out.status == 0 else { throw RunError.invalid("\(path) \(args.joined(separator: " ")) failed: \(text)") }
        return text
    }
}
