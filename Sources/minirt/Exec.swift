import ArgumentParser
import MinirtKit

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running container.",
        discussion: "Exit status: the command's; 126 when it cannot be invoked, 127 when it is not found, 1 when minirt fails.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Keep STDIN open.") var interactive = false
    @Flag(name: [.short, .long], help: "Allocate a pseudo-terminal.") var tty = false
    @Option(name: [.short, .long], help: ArgumentHelp("Set an environment variable.", valueName: "env")) var env: [String] = []
    @Option(name: [.short, .long], help: ArgumentHelp("Working directory inside the container.", valueName: "dir")) var workdir: String?
    @Option(name: [.short, .long], parsing: .unconditional, help: ArgumentHelp("USER[:GROUP], names or numbers.", valueName: "user")) var user: String?
    @Option(name: .customLong("env-file"), help: ArgumentHelp("Read environment variables from a file.", valueName: "file")) var envFile: [String] = []
    @Flag(help: "Give this process every capability (the container's seccomp filter still applies).") var privileged = false
    @Flag(name: [.short, .long], help: "Start the command and return; it runs on in the container.") var detach = false
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Command and arguments.", valueName: "command")) var command: [String] = []

    func run() throws {
        var o = ExecOptions(command: command.first == "--" ? Array(command.dropFirst()) : command)
        o.interactive = interactive
        o.tty = tty
        o.env = env
        o.workdir = workdir
        o.user = user
        o.envFiles = envFile
        o.privileged = privileged
        o.detach = detach
        let code: Int32
        do { code = try global.containers().exec(container, o) } catch { throw fail(error, defaultCode: 1) }
        if code != 0 { throw ExitCode(code) }
    }
}
