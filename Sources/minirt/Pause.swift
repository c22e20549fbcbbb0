import ArgumentParser
import MinirtKit

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Freeze every process of containers (the cgroup freezer); they leave their services meanwhile.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { try c.pause($0) }
    }
}
