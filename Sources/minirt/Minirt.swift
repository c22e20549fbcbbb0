import ArgumentParser
import MinirtCNI
import MinirtEngine
import MinirtKit
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

@main
struct Minirt: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "minirt",
        abstract: "A small container runtime: real Linux namespaces, docker-style commands.",
        version: version,
        subcommands: [Run.self, Create.self, Exec.self, List.self, Inspect.self, Logs.self, Stop.self, Start.self, Restart.self, Kill.self, Wait.self,
                      Remove.self, Port.self, Stats.self, Diff.self, Export.self, Copy.self, Pause.self, Unpause.self, Rename.self, Top.self, Explain.self, Network.self, Service.self, Images.self, ImageCommand.self, System.self, VolumeCommand.self, ContainerGroup.self, Version.self, InfoAlias.self, Events.self, Attach.self, Commit.self, Update.self, OCI.self, InternalStart.self, InternalExited.self, InternalHealth.self])

    /// Like `docker`: usage errors exit 125, not ArgumentParser's 64.
    static func main() {
        do {
            var args = GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst()))
            // `minirt-runc VERB` (a link to minirt) is `minirt oci VERB`, with runc's globals first.
            if CommandLine.arguments.first?.split(separator: "/").last == "minirt-runc" { args = ["oci"] + Array(CommandLine.arguments.dropFirst()) }
            if args.first == "oci" { args = OCI.rewrite(args) }
            // Verbs that put a process into a container run from a protected binary.
            let entering = args.first == "oci" ? args.count > 1 && OCI.entering.contains(args[1]) : ["run", "exec", "__start"].contains(args.first ?? "")
            if entering && !args.contains("--help") {
                try SealedExecutable.ensure()
            }
            if args.first == "run", !args.contains(where: treeArguments.contains) {
                let runArgs = Array(args.dropFirst())
                let quick = QuickRun(runArgs)
                if let check = getenv("MINIRT_PARSE_CHECK").map({ String(cString: $0) }) {
                    var err = StandardError()
                    if check == "report" { print("minirt: parse: \(quick == nil ? "ArgumentParser" : "quick")", to: &err) }
                    if let difference = quick?.difference(from: runArgs) {
                        print("minirt: internal error: run's quick parse differs from ArgumentParser's:\n\(difference)", to: &err)
                        Glibc.exit(125)
                    }
                }
                if let quick {
                    try quick.run()
                    return
                }
            }
            // A verb is parsed alone, as the root of its own tree: parsing from
            // minirt's root builds every command's arguments by reflection and
            // checks the whole tree for a completion-script request first (about
            // half of `kill`'s own time). Help, versions and unknown verbs go the full way.
            if let (verb, rest) = leaf(args) {
                var command = try verb.parseAsRoot(rest)
                try command.run()
                return
            }
            try checkVerbs(args)
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64, let refusal = NotApplicableFlags.refusal(for: message(for: error)) {
                var err = StandardError()
                print("minirt: \(refusal)", to: &err)
                Glibc.exit(125)
            }
            if code.rawValue == 64 {
                var err = StandardError()
                let verb = verbPath(GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst()))).map { " " + $0 }.joined()
                print("minirt: \(message(for: error)): see 'minirt\(verb) --help'", to: &err)
                Glibc.exit(125)
            }
            exit(withError: error)
        }
    }
}

extension Minirt {
    /// Arguments only the whole tree answers (help, versions, completion scripts).
    /// An array, not a Set: hashing it into a Set costs more at each start than six compares.
    static let treeArguments: [String] = ["--help", "-h", "--help-hidden", "--version", "--generate-completion-script", "--experimental-dump-help"]

    /// The leaf command `args` names (`kill`, `network ls`, `oci state`) and the
    /// arguments after it; nil when they name no leaf or ask for the tree.
    static func leaf(_ args: [String]) -> (ParsableCommand.Type, [String])? {
        guard !args.contains(where: treeArguments.contains) else { return nil }
        let (command, path) = walk(args)
        guard command != Minirt.self, command.configuration.subcommands.isEmpty else { return nil }
        return (command, Array(args.dropFirst(path.count)))
    }

    /// The verbs `args` starts with (`["network", "ls"]`), as far as the tree knows them.
    static func verbPath(_ args: [String]) -> [String] { walk(args).path }

    /// The subcommand of `command` called `name` (or one of its aliases).
    static func subcommand(of command: ParsableCommand.Type, named name: String) -> ParsableCommand.Type? {
        command.configuration.subcommands.first { $0._commandName == name || $0.configuration.aliases.contains(name) }
    }

    /// As deep into the tree as the leading arguments name verbs.
    static func walk(_ args: [String]) -> (command: ParsableCommand.Type, path: [String]) {
        var command: ParsableCommand.Type = Minirt.self
        var path: [String] = []
        for arg in args {
            guard let next = subcommand(of: command, named: arg) else { break }
            command = next
            path.append(arg)
        }
        return (command, path)
    }

    /// `minirt VERB` (and `minirt network VERB`) with a verb that does not exist
    /// is an error even with --help, as docker has it: one line, exit 1.
    static func checkVerbs(_ args: [String]) throws {
        var command: ParsableCommand.Type = Minirt.self
        var path = "minirt"
        for arg in args {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !arg.hasPrefix("-"), arg != "help" else { return }
            guard let next = subcommand(of: command, named: arg) else {
                var err = StandardError()
                print("minirt: '\(arg)' is not a \(path) command: see '\(path) --help'", to: &err)
                throw ExitCode(1)
            }
            command = next
            path += " " + arg
        }
    }
}

/// Flags every verb takes, for pointing minirt at other stores (tests do).
/// They may also come before the verb, as runc's and docker's global flags do.
struct GlobalOptions: ParsableArguments {
    static let names = ["--root", "--images", "--cni-config", "--cni-path"]
    static let nested = ["network", "system", "image"]

    static func hoisted(_ args: [String]) -> [String] {
        CommandLineRewrite.hoist(args, globals: names, nestedVerbs: nested)
    }

    @Option(name: .customLong("root"), help: ArgumentHelp("Where container state lives (env MINIRT_ROOT).", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("images"), help: ArgumentHelp("The image store (env MINIRT_IMAGES).", valueName: "dir"))
    var images: String?

    @Option(name: .customLong("cni-config"), help: ArgumentHelp("Folder of CNI network configs (env MINIRT_CNI_CONFIG).", valueName: "dir"))
    var cniConfig: String?

    @Option(name: .customLong("cni-path"), help: ArgumentHelp("Where CNI plugins are, ':'-separated (env MINIRT_CNI_PATH).", valueName: "dirs"))
    var cniPath: String?

    var stores: StorePaths { StorePaths(root: root, images: images, cniConfig: cniConfig, cniPath: cniPath) }

    func containers() -> Containers { stores.containers() }
}

/// The stores the global flags point at (nil: the environment's, else the default).
struct StorePaths: Equatable {
    var root: String?
    var images: String?
    var cniConfig: String?
    var cniPath: String?

    func containers() -> Containers {
        let env = ProcessEnvironment.values
        let root = self.root ?? env["MINIRT_ROOT"] ?? StateStore.defaultRoot
        let pluginPath = (cniPath ?? env["MINIRT_CNI_PATH"]).map { $0.split(separator: ":").map(String.init) } ?? CNIRuntime.defaultPath
        let networks = Networks(configDir: cniConfig ?? env["MINIRT_CNI_CONFIG"] ?? Networks.defaultConfigDir,
                                stateRoot: root, cni: CNIRuntime(path: pluginPath),
                                settingsFile: env["MINIRT_CONFIG"] ?? Networks.defaultSettingsFile)
        return Containers(store: StateStore(root: root),
                          images: ImageStore(root: images ?? env["MINIRT_IMAGES"] ?? ImageStore.defaultRoot),
                          networks: networks)
    }
}
