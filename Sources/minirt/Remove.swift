import ArgumentParser
import MinirtKit

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove containers and everything they hold.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Kill a running container first.")
    var force = false

    @Flag(name: [.short, .long], help: "Also remove the container's anonymous volumes.")
    var volumes = false

    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container"))
    var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { ref in
            var warnings: [String] = []
            try c.remove(ref, force: force, volumes: volumes, warnings: &warnings)
            var err = StandardError()
            for w in warnings { print("minirt: warning: \(w)", to: &err) }
        }
    }
}
