import ArgumentParser
import MinirtEngine
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct OCIRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Create and start a container; wait for it unless --detach.")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("The bundle folder.", valueName: "dir")) var bundle = "."
    @Option(name: .customLong("pid-file"), help: ArgumentHelp("Write the init's pid here.", valueName: "file")) var pidFile: String?
    @Option(name: .customLong("console-socket"), help: ArgumentHelp("Unix socket that receives the pty master.", valueName: "path")) var consoleSocket: String?
    @Flag(name: [.short, .long], help: "Return once it started.") var detach = false
    @Flag(help: "Keep the container's state after it exits.") var keep = false
    @Flag(name: .customLong("no-pivot"), help: "Accepted; minirt always pivots.") var noPivot = false
    @Flag(name: .customLong("no-new-keyring"), help: "Accepted.") var noNewKeyring = false
    @Argument var id: String

    func run() throws {
        var status: Int32 = 0
        try global.run { c in
            var o = OCIContainers.CreateOptions(bundle: bundle)
            o.pidFile = pidFile
            o.consoleSocket = consoleSocket
            // Foreground: signals reach the container through us, as with runc run.
            if !detach { SignalForwarding.block() }
            let (pid, console) = try c.create(id, o, seccompCache: c.root + "/.seccomp", keepConsole: !detach)
            try c.start(id)
            guard !detach else { return }
            status = MinirtEngine.exitCode(fromWaitStatus: ForegroundMonitor(pid: pid, consoleMaster: console, forwardStdin: console != nil).run())
            if !keep { try c.delete(id, force: true) }
        }
        if status != 0 { throw ExitCode(status) }
    }
}
