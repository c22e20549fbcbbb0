/// docker's health checks: the check as an image config or `--health-*` gives
/// it, and the state `inspect` shows as State.Health. Pure: the supervisor
/// schedules checks, `minirt __health` runs one and records it here.
public struct HealthConfig: Codable, Sendable, Equatable {
    /// ["NONE"], ["CMD", ARG...] or ["CMD-SHELL", COMMAND]; empty: inherit.
    public var Test: [String]?
    /// Nanoseconds, as in docker's image config; 0 or absent: the default.
    public var Interval: Int64?
    public var Timeout: Int64?
    public var StartPeriod: Int64?
    public var StartInterval: Int64?
    public var Retries: Int?
    public init(Test: [String]? = nil) { self.Test = Test }

    public static let defaultInterval: Int64 = 30_000_000_000
    public static let defaultTimeout: Int64 = 30_000_000_000
    public static let defaultStartInterval: Int64 = 5_000_000_000
    public static let defaultRetries = 3

    /// A check to run: a test that is neither absent nor NONE.
    public var isActive: Bool {
        guard let t = Test, let kind = t.first else { return false }
        return (kind == "CMD" && t.count > 1) || (kind == "CMD-SHELL" && t.count == 2)
    }

    /// The command to execute in the container.
    public var command: [String] {
        guard let t = Test, let kind = t.first else { return [] }
        return kind == "CMD-SHELL" ? ["/bin/sh", "-c"] + t.dropFirst() : Array(t.dropFirst())
    }

    func value(_ v: Int64?, _ fallback: Int64) -> Int64 { (v ?? 0) > 0 ? v! : fallback }
    public var interval: Int64 { value(Interval, Self.defaultInterval) }
    public var timeout: Int64 { value(Timeout, Self.defaultTimeout) }
    public var startPeriod: Int64 { max(StartPeriod ?? 0, 0) }
    public var startInterval: Int64 { value(StartInterval, Self.defaultStartInterval) }
    public var retries: Int { (Retries ?? 0) > 0 ? Retries! : Self.defaultRetries }
}

/// State.Health: docker's status, failing streak and last five results.
public struct Health: Codable, Sendable, Equatable {
    public static let starting = "starting", healthy = "healthy", unhealthy = "unhealthy"
    public static let keptResults = 5
    /// docker keeps this much of a check's output.
    public static let maxOutput = 4096

    public struct Result: Codable, Sendable, Equatable {
        public var start: Timestamp
        public var end: Timestamp
        public var exitCode: Int32
        public var output: String
        public init(start: Timestamp, end: Timestamp, exitCode: Int32, output: String) {
            self.start = start; self.end = end; self.exitCode = exitCode; self.output = output
        }
    }

    public var status = Health.starting
    public var failingStreak = 0
    public var log: [Result] = []
    public init() {}

    /// One more result, as docker counts it: a success is healthy at once; a
    /// failure during the start period does not count; `retries` failures in a
    /// row are unhealthy. Returns whether the status changed.
    @discardableResult
    public mutating func record(_ r: Result, retries: Int, inStartPeriod: Bool) -> Bool {
        let before = status
        log = Array((log + [r]).suffix(Self.keptResults))
        if r.exitCode == 0 {
            failingStreak = 0
            status = Self.healthy
        } else if !(inStartPeriod && status == Self.starting) {
            failingStreak += 1
            if failingStreak >= retries { status = Self.unhealthy }
        }
        return status != before
    }
}

/// Go's time.ParseDuration, as docker's --health-* flags read durations:
/// "1m30s", "300ms", "1.5h", "0". Returns nanoseconds.
public enum GoDuration {
    public static func parse(_ text: String) -> Int64? {
        if text == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let n = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // The longest unit that matches ("ms" before "m").
            guard let unit = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += n * unit.1
        }
        guard total < 0x1p63 else { return nil }
        return Int64(total)
    }

    /// Docker's way of showing a duration (Go's Duration.String): "1m30s", "500ms".
    public static func format(_ ns: Int64) -> String {
        if ns == 0 { return "0s" }
        if ns < 1_000_000_000 {
            if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
            if ns % 1000 == 0 { return "\(ns / 1000)µs" }
            return "\(ns)ns"
        }
        var s = ns / 1_000_000_000
        let frac = ns % 1_000_000_000
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 || !out.isEmpty { out += "\(s / 60)m"; s %= 60 }
        var sec = "\(s)"
        if frac != 0 {
            var f = String(frac)
            f = String(repeating: "0", count: 9 - f.count) + f
            while f.hasSuffix("0") { f.removeLast() }
            sec += "." + f
        }
        return out + sec + "s"
    }
}
