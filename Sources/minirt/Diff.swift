import ArgumentParser
import MinirtKit

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "List the files a container added (A), changed (C) or deleted (D).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do {
            for line in try global.containers().diff(container) { print(line) }
        } catch { throw fail(error, defaultCode: 1) }
    }
}
