#if canImport(Glibc)
import Glibc
#endif

/// Checks for values that reach generated files (/etc/hosts, resolv.conf, the
/// DNS server's host lists) or syscalls: what docker accepts, nothing that
/// could add a line or a field. One line of error naming the flag and the fix.
public enum Validate {
    /// RFC 1123 host name: dot-separated labels of letters, digits and inner
    /// hyphens, at most 63 bytes each; `maxLength` 64 is the kernel's for sethostname.
    public static func isHostName(_ s: String, maxLength: Int = 253, allowUnderscore: Bool = false) -> Bool {
        guard !s.isEmpty, s.utf8.count <= maxLength else { return false }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, label.utf8.count <= 63 else { return false }
            let ok: (Character) -> Bool = { c in c.isASCII && (c.isLetter || c.isNumber || c == "-" || (allowUnderscore && c == "_")) }
            return label.allSatisfy(ok) && first != "-" && last != "-"
        }
    }

    public static func isIP(_ s: String) -> Bool {
        var a4 = in_addr(), a6 = in6_addr()
        return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1
    }

    /// No control characters (newlines above all) and no whitespace.
    public static func isToken(_ s: String) -> Bool {
        !s.isEmpty && !s.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7f }
    }

    /// An absolute path with no "." or ".." component and no control characters.
    public static func isCleanAbsolutePath(_ s: String) -> Bool {
        s.hasPrefix("/") && !s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
            && !s.split(separator: "/").contains { $0 == ".." || $0 == "." }
    }

    /// The run options that end up in files, each checked as docker does.
    public static func runOptions(_ o: RunOptions) throws {
        if let h = o.hostname, !isHostName(h, maxLength: 64) {
            throw RunError.invalid("invalid hostname \"\(printable(h))\": use letters, digits, '-' and '.' (RFC 1123), at most 64 characters")
        }
        for d in o.dns where !isIP(d) {
            throw RunError.invalid("invalid --dns \"\(printable(d))\": give an IP address")
        }
        for d in o.dnsSearch where d != "." && !isHostName(d.hasSuffix(".") ? String(d.dropLast()) : d, allowUnderscore: true) {
            throw RunError.invalid("invalid --dns-search \"\(printable(d))\": give a domain name (letters, digits, '-', '.')")
        }
        for d in o.dnsOptions where !isToken(d) {
            throw RunError.invalid("invalid --dns-option \"\(printable(d))\": an option is one word such as ndots:2, without spaces or control characters")
        }
        for a in o.networkAliases where !isHostName(a, allowUnderscore: true) {
            throw RunError.invalid("invalid --network-alias \"\(printable(a))\": use letters, digits, '-', '_' and '.'")
        }
    }

    /// Control characters shown escaped, so that an error stays one line.
    public static func printable(_ s: String) -> String {
        s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }
}
