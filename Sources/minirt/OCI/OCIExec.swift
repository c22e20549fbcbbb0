import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct OCIExec: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", _superCommandName: "oci", abstract: "Run a process in a running container.")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("An OCI process JSON file (- for stdin) instead of ARGS.", valueName: "file")) var process: String?
    @Flag(name: [.short, .long], help: "Allocate a pseudo-terminal.") var tty = false
    @Option(name: .customLong("console-socket"), help: ArgumentHelp("Unix socket that receives the pty master.", valueName: "path")) var consoleSocket: String?
    @Flag(name: [.short, .long], help: "Return once it started.") var detach = false
    @Option(name: .customLong("pid-file"), help: ArgumentHelp("Write its pid here.", valueName: "file")) var pidFile: String?
    @Option(help: ArgumentHelp("Working directory.", valueName: "dir")) var cwd: String?
    @Option(name: [.short, .long], help: ArgumentHelp("NAME=VALUE, added to the container's environment.", valueName: "env")) var env: [String] = []
    @Option(name: [.short, .long], help: ArgumentHelp("UID[:GID].", valueName: "user")) var user: String?
    @Option(name: [.short, .customLong("cap")], help: ArgumentHelp("An extra capability.", valueName: "cap")) var cap: [String] = []
    @Flag(name: .customLong("no-new-privs"), help: "Set no_new_privs.") var noNewPrivs = false
    @Option(name: .customLong("preserve-fds"), help: ArgumentHelp("Pass descriptors 3 to 3+N-1 on to the process.", valueName: "n")) var preserveFds = 0
    @Argument var id: String
    @Argument(parsing: .captureForPassthrough) var args: [String] = []

    func run() throws {
        var status: Int32 = 0
        try global.run { c in
            guard preserveFds >= 0 else { throw OCIError("--preserve-fds \(preserveFds): give a count of descriptors") }
            var p: OCISpec.Process
            if let file = process {
                let data = file == "-" ? FileHandleInput.readAll() : FileManager.default.contents(atPath: file)
                guard let data else { throw OCIError("process file \(file) cannot be read") }
                do { p = try JSONDecoder().decode(OCISpec.Process.self, from: data) } catch {
                    throw OCIError("process file \(file): \((error as? DecodingError).map(SeccompProfile.describe) ?? "\(error)")")
                }
            } else {
                // Like runc: the container's own process as the template, these args, these flags.
                let bundle = try c.load(id).bundle
                p = try OCIContainers.spec(bundle: bundle).process ?? OCISpec.Process()
                p.args = args.first == "--" ? Array(args.dropFirst()) : args
                p.terminal = tty
                if let cwd { p.cwd = cwd }
                p.env = (p.env ?? []) + env
                if let user {
                    let parts = user.split(separator: ":", maxSplits: 1).map(String.init)
                    guard let uid = UInt32(parts[0]), uid <= UserLookup.maxID,
                          parts.count == 1 || UInt32(parts[1]).map({ $0 <= UserLookup.maxID }) == true else {
                        throw OCIError("invalid user \(user): give UID[:GID] in 0-\(UserLookup.maxID)")
                    }
                    p.user = OCISpec.User(uid: uid, gid: parts.count > 1 ? UInt32(parts[1])! : 0)
                }
                if noNewPrivs { p.noNewPrivileges = true }
                if !cap.isEmpty {
                    var caps = p.capabilities ?? OCISpec.Capabilities()
                    for name in cap {
                        let n = name.uppercased().hasPrefix("CAP_") ? name.uppercased() : "CAP_" + name.uppercased()
                        for keyPath in [\OCISpec.Capabilities.bounding, \.effective, \.permitted] where !(caps[keyPath: keyPath] ?? []).contains(n) {
                            caps[keyPath: keyPath] = (caps[keyPath: keyPath] ?? []) + [n]
                        }
                    }
                    p.capabilities = caps
                }
            }
            var o = OCIContainers.ExecOptions(process: p)
            o.consoleSocket = consoleSocket
            o.pidFile = pidFile
            o.detach = detach
            o.preserveFds = preserveFds
            if !detach { SignalForwarding.block() }
            let (pid, console) = try c.exec(id, o, seccompCache: c.root + "/.seccomp")
            guard !detach else { return }
            status = MinirtEngine.exitCode(fromWaitStatus: ForegroundMonitor(pid: pid, consoleMaster: console, forwardStdin: console != nil).run())
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Standard input, read to its end (a process JSON piped by the engine).
enum FileHandleInput {
    static func readAll() -> Data {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(0, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }
}
