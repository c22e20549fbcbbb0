import CLibcap
#if canImport(Glibc)
import Glibc
#endif

/// Capability names and sets, through libcap: it knows every name this
/// kernel and library support, and the highest capability the kernel has.
public enum Capabilities {
    /// Docker's default set: what a container's root keeps.
    public static let dockerDefault = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" all name CAP_NET_ADMIN.
    public static func canonical(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }

    /// The capability's number, or nil when libcap does not know the name.
    public static func number(_ name: String) -> UInt32? {
        var value: cap_value_t = 0
        let lower = canonical(name).lowercased()
        // libcap also accepts plain numbers; only names are valid here.
        guard lower.dropFirst(4).allSatisfy({ $0.isLetter || $0 == "_" }),
              cap_from_name(lower, &value) == 0, value >= 0 else { return nil }
        return UInt32(value)
    }

    /// The highest capability number this kernel knows.
    public static var last: UInt32 {
        let bits = cap_max_bits()
        return bits > 0 ? UInt32(bits - 1) : 40
    }

    /// Every capability of this kernel, by name (CAP_...).
    public static func all() -> [String] {
        (0...last).compactMap { n -> String? in
            guard let p = cap_to_name(cap_value_t(n)) else { return nil }
            defer { cap_free(p) }
            let name = String(cString: p).uppercased()
            return name.hasPrefix("CAP_") ? name : nil
        }
    }

    /// The capabilities minirt itself may grant: its bounding set (a host or an
    /// outer container may have taken some away; CAP_SYS_RESOURCE often is).
    public static func held() -> [String] {
        all().filter { name in number(name).map { cap_get_bound(cap_value_t($0)) == 1 } ?? false }
    }

    /// A bit mask of the named capabilities; throws on the first unknown name.
    public static func mask(_ names: [String]) throws -> UInt64 {
        var mask: UInt64 = 0
        for name in names {
            guard let n = number(name), n < 64 else { throw CapabilityError.unknown(name) }
            mask |= 1 << UInt64(n)
        }
        return mask
    }

    /// Docker's `--cap-add`/`--cap-drop` over a starting set ("ALL" in either).
    /// Drops apply first, then adds, so `--cap-drop ALL --cap-add NET_BIND_SERVICE` works.
    public static func adjust(_ base: [String], add: [String], drop: [String], held: @autoclosure () -> [String] = held()) throws -> [String] {
        for name in add + drop where name.uppercased() != "ALL" && number(name) == nil {
            throw CapabilityError.unknown(name)
        }
        let dropAll = drop.contains { $0.uppercased() == "ALL" }
        let addAll = add.contains { $0.uppercased() == "ALL" }
        let dropped = Set(drop.map(canonical))
        var set = dropAll ? [] : base.filter { !dropped.contains($0) }
        for name in (addAll ? held() : add.map(canonical)) where !set.contains(name) { set.append(name) }
        return set
    }
}

public enum CapabilityError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    public var description: String {
        switch self {
        case .unknown(let n):
            return "unknown capability \"\(n)\": use a name such as NET_ADMIN or CAP_NET_ADMIN (see capabilities(7)), or ALL"
        }
    }
}
