import ArgumentParser
import MinirtKit

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach to a detached container's output (and its stdin or terminal).",
        discussion: "Detach with ctrl-p ctrl-q (or --detach-keys); the container runs on. Exit status: the container's when it ends, 0 on detach.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("no-stdin"), help: "Do not send our input.") var noStdin = false
    @Option(name: .customLong("sig-proxy"), help: ArgumentHelp("Pass the signals we get to the container (default true; not with a terminal).", valueName: "bool")) var sigProxy = true
    @Option(name: .customLong("detach-keys"), help: ArgumentHelp("The keys that detach (default the container's, or ctrl-p,ctrl-q).", valueName: "keys")) var detachKeys: String?
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        var o = AttachOptions()
        o.noStdin = noStdin
        o.sigProxy = sigProxy
        o.detachKeys = detachKeys
        let code: Int32
        do { code = try global.containers().attach(container, o) } catch { throw fail(error, defaultCode: 1) }
        if code != 0 { throw ExitCode(code) }
    }
}
