import FoundationEssentials
import MinirtCNI
#if canImport(Glibc)
import Glibc
#endif

/// An IPv6 prefix, as two 64-bit halves (network byte order read as numbers).
public struct IPv6Subnet: Equatable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var prefix: Int

    /// Smaller than a /120 leaves too few addresses for a network of containers.
    public static let longestPrefix = 120

    public init(_ cidr: String) throws {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, let p = Int(parts[1]) else {
            throw NetworkError.badSubnet6(cidr, "write an IPv6 CIDR such as fd00:42::/64")
        }
        guard (16...Self.longestPrefix).contains(p) else {
            throw NetworkError.badSubnet6(cidr, "the prefix length must be between /16 and /\(Self.longestPrefix) (a /64 is usual)")
        }
        guard let (h, l) = Self.parse(String(parts[0])) else { throw NetworkError.badSubnet6(cidr, "not an IPv6 address") }
        let (mh, ml) = Self.mask(p)
        guard h & ~mh == 0, l & ~ml == 0 else {
            throw NetworkError.badSubnet6(cidr, "host bits are set (did you mean \(Self.format(h & mh, l & ml))/\(p)?)")
        }
        high = h; low = l; prefix = p
    }

    init(high: UInt64, low: UInt64, prefix: Int) { self.high = high; self.low = low; self.prefix = prefix }

    static func mask(_ p: Int) -> (UInt64, UInt64) {
        let h: UInt64 = p >= 64 ? ~0 : (p == 0 ? 0 : ~UInt64(0) << (64 - p))
        let l: UInt64 = p <= 64 ? 0 : (p >= 128 ? ~0 : ~UInt64(0) << (128 - p))
        return (h, l)
    }

    public var description: String { "\(Self.format(high, low))/\(prefix)" }
    /// The first address after the network's (the usual gateway).
    public var firstHost: String { Self.format(high, low + 1) }
    /// The last address of the prefix.
    public var lastHost: String {
        let (mh, ml) = Self.mask(prefix)
        return Self.format(high | ~mh, low | ~ml)
    }

    public func contains(_ a: (UInt64, UInt64)) -> Bool {
        let (mh, ml) = Self.mask(prefix)
        return a.0 & mh == high && a.1 & ml == low
    }

    public func contains(_ s: String) -> Bool { Self.parse(s).map(contains) ?? false }

    public func overlaps(_ o: IPv6Subnet) -> Bool {
        let (mh, ml) = Self.mask(min(prefix, o.prefix))
        return high & mh == o.high & mh && low & ml == o.low & ml
    }

    public static func parse(_ s: String) -> (UInt64, UInt64)? {
        var a = in6_addr()
        guard !s.contains("%"), inet_pton(AF_INET6, s, &a) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &a) { Array($0) }
        let h = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let l = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (h, l)
    }

    public static func format(_ h: UInt64, _ l: UInt64) -> String {
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { b in
            for i in 0..<8 { b[i] = UInt8((h >> (56 - 8 * UInt64(i))) & 0xff); b[8 + i] = UInt8((l >> (56 - 8 * UInt64(i))) & 0xff) }
        }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The canonical text of an address (RFC 5952), or nil when it is not one.
    public static func canonical(_ s: String) -> String? { parse(s).map { format($0.0, $0.1) } }

    /// A unique local /64 (RFC 4193: fd00::/8 and a random 40-bit global id).
    public static func randomUniqueLocal() -> IPv6Subnet {
        var g = SystemRandomNumberGenerator()
        let global = UInt64.random(in: 0..<(1 << 40), using: &g)
        return IPv6Subnet(high: 0xfd00_0000_0000_0000 | global << 16, low: 0, prefix: 64)
    }

    /// The link-local address the kernel derives from a MAC (EUI-64, addr_gen_mode 0).
    public static func linkLocal(mac: String) -> String {
        let b = mac.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard b.count == 6 else { return "" }
        let l = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return format(0xfe80_0000_0000_0000, l)
    }
}

extension Networks {
    /// The host's IPv6 routes (/proc/net/ipv6_route), but the default, link-local and multicast ones.
    func hostRoutes6() -> [IPv6Subnet] {
        guard let text = FileManager.default.contents(atPath: "/proc/net/ipv6_route").map({ String(decoding: $0, as: UTF8.self) }) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, f[0].count == 32, let h = UInt64(f[0].prefix(16), radix: 16), let l = UInt64(f[0].suffix(16), radix: 16),
                  let p = Int(f[1], radix: 16), p > 0 else { return nil }
            let s = IPv6Subnet(high: h, low: l, prefix: p)
            if h >> 48 == 0xfe80 || h >> 56 == 0xff || (h == 0 && (l == 0 || l == 1)) { return nil }
            return s
        }
    }

    /// The network's IPv6 range (the first host-local range of that family), if it has one.
    public static func subnet6(of list: NetworkConfigList) -> IPv6Subnet? {
        ipv6Range(of: list)?["subnet"]?.stringValue.flatMap { try? IPv6Subnet($0) }
    }

    public static func gateway6(of list: NetworkConfigList) -> String? {
        guard let r = ipv6Range(of: list) else { return nil }
        return r["gateway"]?.stringValue ?? subnet6(of: list)?.firstHost
    }

    static func ipv6Range(of list: NetworkConfigList) -> JSONValue? {
        let sets = list.plugins.first?["ipam"]?["ranges"]?.arrayValue ?? []
        return sets.compactMap { $0.arrayValue?.first }.first { ($0["subnet"]?.stringValue ?? "").contains(":") }
    }
}
