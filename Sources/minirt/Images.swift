import ArgumentParser
import MinirtKit

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List the images in the image store.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Only print image names.")
    var quiet = false

    func run() throws {
        let images = global.containers().images.list()
        if quiet {
            for i in images { print(i.name) }
            return
        }
        let rows = images.map { i in
            [i.name, PsRow.quote(((i.config.Entrypoint ?? []) + (i.config.Cmd ?? [])).joined(separator: " ")), i.folder ?? ""]
        }
        print(formatTable([["IMAGE", "COMMAND", "PATH"]] + rows), terminator: "")
    }
}
