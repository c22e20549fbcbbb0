import Glibc

// The few string operations minirt needs from Foundation's NSString side,
// here so that no target links Foundation itself: its CoreFoundation and ICU
// data (34 MB) made every start of the binary map, relocate and scan more.

extension StringProtocol {
    /// Without leading and trailing whitespace and newlines.
    public func trimmed() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return String(self[first...last])
    }
}

/// Path text as NSString treats it: trailing slashes ignored, "/" its own parent.
public enum PathText {
    static func stripped(_ p: String) -> Substring {
        var s = Substring(p)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        return s
    }

    /// "b" for "/a/b/", "/" for "/", "" for "".
    public static func lastComponent(_ p: String) -> String {
        let s = stripped(p)
        if s == "/" { return "/" }
        return String(s.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }

    /// "/a" for "/a/b/", "/" for "/a" and "/", "" for "b", "a" for "a//b".
    public static func parent(_ p: String) -> String {
        let s = stripped(p)
        guard let slash = s.lastIndex(of: "/") else { return "" }
        var head = s[..<slash]
        while head.hasSuffix("/") { head = head.dropLast() }
        return head.isEmpty ? "/" : String(head)
    }
}

/// printf-style decimals without Foundation's String(format:).
public enum NumberText {
    /// `value` with `places` digits after the point, as "%.Nf" prints it.
    public static func fixed(_ value: Double, places: Int) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buf, buf.count, "%.\(places)f", $0) }
        return String(cString: buf)
    }

    /// "%.4g": four significant digits, as docker's HumanSize prints.
    public static func significant4(_ value: Double) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buf, buf.count, "%.4g", $0) }
        return String(cString: buf)
    }
}

extension String {
    /// Ordered as Foundation's `.numeric` compare orders: runs of digits by
    /// their value ("eth2" before "eth10", "10.0.0.9" before "10.0.0.10").
    public func numericallyPrecedes(_ other: String) -> Bool {
        var a = Substring(self), b = Substring(other)
        while let x = a.first, let y = b.first {
            if x.isASCII && x.isNumber && y.isASCII && y.isNumber {
                let da = a.prefix { $0.isASCII && $0.isNumber }, db = b.prefix { $0.isASCII && $0.isNumber }
                let na = da.drop { $0 == "0" }, nb = db.drop { $0 == "0" }
                if na.count != nb.count { return na.count < nb.count }
                if na != nb { return na < nb }
                a = a.dropFirst(da.count); b = b.dropFirst(db.count)
            } else {
                if x != y { return x < y }
                a = a.dropFirst(); b = b.dropFirst()
            }
        }
        return a.isEmpty && !b.isEmpty
    }
}
