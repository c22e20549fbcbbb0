import ArgumentParser
import MinirtKit

struct Unpause: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpause", abstract: "Thaw paused containers; they rejoin their services.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { try c.unpause($0) }
    }
}
