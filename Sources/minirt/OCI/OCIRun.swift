import ArgumentParser
import MinirtEngine
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct OCIRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", _superCommandName: "oci", abstract: "Create and start a container; wait for it unless --detach.")
    @OptionGroup var global: OCIGlobalOptions
    @OptionGroup var flags: OCICreateFlags
    @Flag(name: [.short, .long], help: "Return once it started.") var detach = false
    @Flag(help: "Keep the container's state after it exits.") var keep = false
    @Argument var id: String

    func run() throws {
        var status: Int32 = 0
        try global.run { c in
            let o = try flags.options()
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
