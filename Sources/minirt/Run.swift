import ArgumentParser
import MinirtKit

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container.",
        discussion: """
        ROOTFS is an image name from the image store (minirt images) or the path of a
        directory holding a root filesystem. Exit status: the command's, 125 when minirt
        fails, 126 when the command cannot be invoked, 127 when it is not found.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Assign a name to the container.")
    var name: String?

    @Option(name: [.customShort("h"), .long], help: "Container host name (default: the short id).")
    var hostname: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Set an environment variable (NAME=VALUE, or NAME to copy the host's).", valueName: "env"))
    var env: [String] = []

    @Option(name: .customLong("env-file"), help: ArgumentHelp("Read environment variables from a file.", valueName: "file"))
    var envFile: [String] = []

    @Option(name: [.short, .customLong("workdir")], help: ArgumentHelp("Working directory inside the container.", valueName: "dir"))
    var workdir: String?

    @Option(help: ArgumentHelp("Overwrite the image's entrypoint (\"\" clears it).", valueName: "command"))
    var entrypoint: String?

    @Option(name: [.customLong("network"), .customLong("net")], help: ArgumentHelp("Network mode: none or host.", valueName: "mode"))
    var network = "none"

    @Flag(help: "Remove the container when it exits.")
    var rm = false

    @Flag(name: [.short, .long], help: "Keep STDIN open and pass it to the container.")
    var interactive = false

    @Flag(name: [.short, .long], help: "Allocate a pseudo-terminal.")
    var tty = false

    @Argument(help: ArgumentHelp("Image name or rootfs directory.", valueName: "rootfs"))
    var image: String

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Command and arguments (default: the image's).", valueName: "command"))
    var command: [String] = []

    func run() throws {
        var o = RunOptions(image: image)
        o.command = command.first == "--" ? Array(command.dropFirst()) : command
        o.name = name
        o.hostname = hostname
        o.env = env
        o.envFiles = envFile
        o.workdir = workdir
        o.entrypoint = entrypoint
        o.network = network
        o.autoRemove = rm
        o.interactive = interactive
        o.tty = tty
        let code: Int32
        do {
            code = try global.containers().run(o)
        } catch {
            throw fail(error, defaultCode: 125)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
