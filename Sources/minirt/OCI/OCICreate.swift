import ArgumentParser
import MinirtKit

/// What `create` and `run` both take.
struct OCICreateFlags: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("The bundle folder (config.json and rootfs).", valueName: "dir")) var bundle = "."
    @Option(name: .customLong("pid-file"), help: ArgumentHelp("Write the init's pid here.", valueName: "file")) var pidFile: String?
    @Option(name: .customLong("console-socket"), help: ArgumentHelp("Unix socket that receives the pty master.", valueName: "path")) var consoleSocket: String?
    @Option(name: .customLong("preserve-fds"), help: ArgumentHelp("Pass descriptors 3 to 3+N-1 on to the container.", valueName: "n")) var preserveFds = 0
    @Flag(name: .customLong("no-pivot"), help: "Accepted; minirt always pivots.") var noPivot = false
    @Flag(name: .customLong("no-new-keyring"), help: "Accepted; minirt creates no session keyring.") var noNewKeyring = false

    func options() throws -> OCIContainers.CreateOptions {
        guard preserveFds >= 0 else { throw OCIError("--preserve-fds \(preserveFds): give a count of descriptors") }
        var o = OCIContainers.CreateOptions(bundle: bundle)
        o.pidFile = pidFile
        o.consoleSocket = consoleSocket
        o.preserveFds = preserveFds
        return o
    }
}

struct OCICreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", _superCommandName: "oci", abstract: "Create a container from a bundle; its process waits for start.")
    @OptionGroup var global: OCIGlobalOptions
    @OptionGroup var flags: OCICreateFlags
    @Argument var id: String

    func run() throws {
        try global.run { c in try c.create(id, try flags.options(), seccompCache: c.root + "/.seccomp") }
    }
}
