import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A wall-clock instant with nanosecond precision, stored and shown as RFC 3339
/// (`2026-11-26T16:19:11.123456789Z`), the format Docker's inspect uses.
public struct Timestamp: Codable, Sendable, Comparable, Hashable {
    public var nanoseconds: Int64 // since the Unix epoch

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    public static let zero = Timestamp(nanoseconds: 0)
    public var isZero: Bool { nanoseconds == 0 }
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    /// RFC 3339 with nine fractional digits; the zero instant prints as Go's zero time.
    public var rfc3339: String {
        if isZero { return "0001-01-01T00:00:00Z" }
        var secs = time_t(nanoseconds / 1_000_000_000)
        let nanos = Int(nanoseconds % 1_000_000_000)
        var tmv = tm()
        gmtime_r(&secs, &tmv)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(tmv.tm_year) + 1900, 4))-\(pad(Int(tmv.tm_mon) + 1, 2))-\(pad(Int(tmv.tm_mday), 2))"
            + "T\(pad(Int(tmv.tm_hour), 2)):\(pad(Int(tmv.tm_min), 2)):\(pad(Int(tmv.tm_sec), 2))"
            + ".\(pad(nanos, 9))Z"
    }

    /// Parses what `rfc3339` prints (UTC, optional fraction of up to nine digits).
    public init?(rfc3339 text: String) {
        if text == "0001-01-01T00:00:00Z" { self = .zero; return }
        let u = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= u.count else { return nil }
            var v = 0
            for c in u[from..<from + count] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard u.count >= 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58, u.last == 90,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2) else { return nil }
        var frac = 0
        if u[19] == 46 {
            let digits = u.count - 21
            guard digits >= 1, digits <= 9, let f = num(20, digits) else { return nil }
            frac = f
            for _ in digits..<9 { frac *= 10 }
        } else if u.count != 20 {
            return nil
        }
        var tmv = tm()
        tmv.tm_year = Int32(y - 1900); tmv.tm_mon = Int32(mo - 1); tmv.tm_mday = Int32(d)
        tmv.tm_hour = Int32(h); tmv.tm_min = Int32(mi); tmv.tm_sec = Int32(s)
        let secs = timegm(&tmv)
        self.nanoseconds = Int64(secs) * 1_000_000_000 + Int64(frac)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let t = Timestamp(rfc3339: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an RFC 3339 time: \(s)")
        }
        self = t
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rfc3339)
    }
}
