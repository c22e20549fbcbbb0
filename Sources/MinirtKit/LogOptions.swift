import MinirtLog
import MinirtState

/// `--log-driver` and `--log-opt`: docker's json-file driver (and `local`, kept
/// here in the same format with local's rotation defaults), or `none`. The
/// drivers that ship logs elsewhere need docker's daemon: refused.
public enum LogOptions {
    static let shipping = ["syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"]

    public static func parse(driver: String?, options: [String]) throws -> ContainerRecord.LogConfig? {
        guard driver != nil || !options.isEmpty else { return nil }
        let type = driver ?? "json-file"
        if shipping.contains(type) {
            throw RunError.invalid("--log-driver \(type) is not supported: minirt has no daemon to ship logs; use json-file, local or none")
        }
        guard ["json-file", "local", "none"].contains(type) else {
            throw RunError.invalid("invalid --log-driver \(Validate.printable(type)): use json-file, local or none")
        }
        var config: [String: String] = [:]
        for o in options {
            let kv = o.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty else { throw RunError.invalid("invalid --log-opt \(Validate.printable(o)): write KEY=VALUE") }
            guard type != "none" else { throw RunError.invalid("--log-opt \(kv[0]) with --log-driver none: that driver takes no options") }
            switch kv[0] {
            case "max-size":
                guard try ByteSize.parse(kv[1], flag: "--log-opt max-size") > 0 else {
                    throw RunError.invalid("invalid --log-opt max-size=\(kv[1]): give a size above 0 such as 10m")
                }
            case "max-file":
                guard let n = Int(kv[1]), n >= 1 else { throw RunError.invalid("invalid --log-opt max-file=\(Validate.printable(kv[1])): give a whole number of at least 1") }
            case "compress":
                // Rotated files are kept as they are.
                guard kv[1] == "false" else { throw RunError.invalid("--log-opt compress=\(Validate.printable(kv[1])) is not supported: rotated logs are not compressed here; use compress=false") }
            default:
                throw RunError.invalid("unknown --log-opt \(Validate.printable(kv[0])) for \(type): use max-size, max-file or compress=false")
            }
            config[kv[0]] = kv[1]
        }
        if type == "local" {
            // docker's local driver keeps 5 files of 20 MB unless told otherwise.
            config["max-size"] = config["max-size"] ?? "20m"
            config["max-file"] = config["max-file"] ?? "5"
        }
        return ContainerRecord.LogConfig(type: type, config: config)
    }

    /// How the container's log is written: nil for the none driver.
    public static func rotation(_ c: ContainerRecord.LogConfig?) -> JSONLogWriter.Rotation? {
        guard let c else { return JSONLogWriter.Rotation() }
        if c.type == "none" { return nil }
        let size = c.config["max-size"].flatMap { try? ByteSize.parse($0, flag: "max-size") } ?? 0
        return JSONLogWriter.Rotation(maxSize: Int(size), maxFiles: c.config["max-file"].flatMap { Int($0) } ?? 1)
    }

    /// The file number `n` of a rotated log (1 is the newest).
    public static func rotated(_ path: String, _ n: Int) -> String { JSONLogWriter.Rotation.rotated(path, n) }

    /// The supervisor's copy (it reads no JSON): "MAXSIZE MAXFILES", or "none".
    static func supervisorLine(_ c: ContainerRecord.LogConfig) -> String {
        guard let r = rotation(c) else { return "none\n" }
        return "\(r.maxSize) \(r.maxFiles)\n"
    }
}
