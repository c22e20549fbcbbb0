import ArgumentParser
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
        subcommands: [Run.self, List.self, Inspect.self, Remove.self, Images.self])

    /// Like `docker`: usage errors exit 125, not ArgumentParser's 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                var err = StandardError()
                let verb = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") }.map { " \($0)" } ?? ""
                print("minirt: \(message(for: error)): see 'minirt\(verb) --help'", to: &err)
                Glibc.exit(125)
            }
            exit(withError: error)
        }
    }
}

/// Flags every verb takes, for pointing minirt at other stores (tests do).
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("root"), help: ArgumentHelp("Where container state lives (env MINIRT_ROOT).", valueName: "dir"))
    var root: String?

    @Option(name: .customLong("images"), help: ArgumentHelp("The image store (env MINIRT_IMAGES).", valueName: "dir"))
    var images: String?

    func containers() -> Containers {
        let env = ProcessEnvironment.values
        let store = StateStore(root: root ?? env["MINIRT_ROOT"] ?? StateStore.defaultRoot)
        return Containers(store: store, images: ImageStore(root: images ?? env["MINIRT_IMAGES"] ?? ImageStore.defaultRoot))
    }
}
