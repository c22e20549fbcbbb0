import ArgumentParser
import MinirtKit

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top", abstract: "Show a container's processes (the host's ps, default -ef).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Options for ps.", valueName: "ps-options")) var psOptions: [String] = []

    func run() throws {
        do { print(try global.containers().top(container, psArguments: psOptions), terminator: "") } catch { throw fail(error, defaultCode: 1) }
    }
}
