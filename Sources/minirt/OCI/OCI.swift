import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtKit
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// runc's command line, for engines (podman, containerd): `minirt oci VERB`, or
/// `minirt-runc VERB` (a link to minirt) as runc itself takes it. These verbs
/// clash with docker's (runc's `kill` sends SIGTERM, its `create` leaves an init
/// blocked), so they live apart, over their own state root.
struct OCI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oci", abstract: "runc's command line over OCI bundles (also as minirt-runc).",
        version: "minirt-runc version \(Minirt.version)\nspec: 1.0.2",
        subcommands: [OCICreate.self, OCIStart.self, OCIState.self, OCIKill.self, OCIDelete.self, OCIRun.self,
                      OCIExec.self, OCIFeatures.self, OCIUpdate.self, OCIList.self, OCIPs.self, OCIPause.self, OCIResume.self, OCISpecCommand.self])

    /// runc's global flags, which come before the verb; hoisted after it for the option group.
    static let globals = ["--root", "--log", "--log-format", "--criu", "--rootless"]
    static let flags = ["--debug", "--systemd-cgroup"]

    /// The argument list for `minirt oci ...`, from `minirt-runc ...` or `minirt oci ...`.
    static func rewrite(_ args: [String]) -> [String] {
        ["oci"] + CommandLineRewrite.hoist(Array(args.dropFirst()), globals: globals, flags: flags, nestedVerbs: [])
    }

    /// The verbs that put a process into a container (see SealedExecutable).
    static let entering: Set<String> = ["create", "run", "exec"]
}

/// runc's global options.
struct OCIGlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("State folder (default /run/minirt-runc).", valueName: "dir")) var root: String?
    @Option(help: ArgumentHelp("Log file (created at start).", valueName: "file")) var log: String?
    @Option(name: .customLong("log-format"), help: ArgumentHelp("text or json.", valueName: "format")) var logFormat = "text"
    @Option(help: .hidden) var criu: String?
    @Option(help: ArgumentHelp("Accepted for runc's sake (true, false or auto).", valueName: "value")) var rootless: String?
    @Flag(help: "More log output.") var debug = false
    @Flag(name: .customLong("systemd-cgroup"), help: "Refused: minirt manages cgroupfs paths only.") var systemdCgroup = false

    func containers() throws -> OCIContainers {
        if let log { _ = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
        guard !systemdCgroup else {
            throw OCIError("--systemd-cgroup is not supported: minirt manages cgroupfs paths (configure the engine with cgroup_manager = \"cgroupfs\")")
        }
        return OCIContainers(root: root ?? OCIContainers.defaultRoot)
    }

    /// runc's way with errors: the message on stderr and, with --log, in the log
    /// (one JSON object a line with --log-format json); exit 1.
    func fail(_ error: Error) -> ExitCode {
        if let e = error as? ExitCode { return e }
        let message = "\(error)"
        var err = StandardError()
        print(message, to: &err)
        if let log {
            let time = Timestamp.now().rfc3339
            let line: String
            if logFormat == "json" {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let body = (try? e.encode(["level": "error", "msg": message, "time": time])).map { String(decoding: $0, as: UTF8.self) } ?? ""
                line = body + "\n"
            } else {
                line = "time=\"\(time)\" level=error msg=\"\(message.replacing("\"", with: "\\\""))\"\n"
            }
            let fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 { _ = line.withCString { write(fd, $0, strlen($0)) }; close(fd) }
        }
        return ExitCode(1)
    }

    /// Runs body, reporting its error as runc does.
    func run(_ body: (OCIContainers) throws -> Void) throws {
        do { try body(try containers()) } catch { throw fail(error) }
    }
}
