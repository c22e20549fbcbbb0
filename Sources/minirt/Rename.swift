import ArgumentParser
import MinirtKit

struct Rename: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename", abstract: "Rename a container (its DNS names on its network follow).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The container's name or id.", valueName: "container")) var container: String
    @Argument(help: ArgumentHelp("Its new name.", valueName: "new-name")) var name: String

    func run() throws {
        do { try global.containers().rename(container, to: name) } catch { throw fail(error, defaultCode: 1) }
    }
}
