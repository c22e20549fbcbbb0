import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtCNI
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}

enum ProcessEnvironment {
    static var values: [String: String] { ProcessInfo.processInfo.environment }
}


/// Prints an error as one line and turns it into the exit code docker would use:
/// `run` failures are 125 (or 126/127 from the engine), other verbs exit 1.
func fail(_ error: Error, defaultCode: Int32) -> ExitCode {
    if let e = error as? ExitCode { return e }
    var err = StandardError()
    print("minirt: \(error)", to: &err)
    if let e = error as? EngineError { return ExitCode(e.exitCode) }
    if let e = error as? ChildFailure { return ExitCode(e.exitCode) }
    return ExitCode(defaultCode)
}

/// This binary and the supervisor and init installed next to it.
enum Executables {
    static func locate() throws -> (minirt: String, supervisor: String, initBinary: String) {
        let exe = try SealedExecutable.currentPath()
        let dir = exe.split(separator: "/").dropLast().joined(separator: "/")
        return (exe, "/\(dir)/minirt-supervisor", "/\(dir)/minirt-init")
    }
}

/// Docker's way with several names: act on each, print each name that worked,
/// report each failure on its own line, exit 1 if any failed.
func forEachName(_ names: [String], _ body: (String) throws -> Void) throws {
    var failed = false
    for name in names {
        do {
            try body(name)
            print(name)
        } catch {
            _ = fail(error, defaultCode: 1)
            failed = true
        }
    }
    if failed { throw ExitCode(1) }
}

/// A listing's `--format`: docker's table, json (one object a line) or a Go template.
func printRows<T: Encodable>(_ rows: [T], format: String, table: () -> [[String]]) throws {
    switch format {
    case "table":
        print(formatTable(table()), terminator: "")
    case "json":
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for r in rows { print(String(decoding: try e.encode(r), as: UTF8.self)) }
    default:
        let t = try Template(format)
        for r in rows { print(try t.render(r)) }
    }
}

/// `inspect`'s output: each view through the Go template, or all of them as docker's pretty JSON array.
func printViews<T: Encodable>(_ views: [T], template: Template?) throws {
    if let template {
        for v in views { print(try template.render(v)) }
    } else {
        // docker's layout and field order (DockerJSON); [] for nothing found.
        print(DockerJSON.pretty(try JSONValue.from(views)))
    }
}
