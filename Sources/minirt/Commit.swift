import ArgumentParser
import MinirtKit

struct Commit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit", abstract: "Make a new image of a container's filesystem and config.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("A Dockerfile instruction for the image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL.", valueName: "instruction"))
    var change: [String] = []
    @Option(name: [.short, .long], help: ArgumentHelp("A commit message (the image's comment).", valueName: "message")) var message: String?
    @Option(name: [.short, .long], help: ArgumentHelp("The image's author.", valueName: "author")) var author: String?
    @Option(name: [.short, .long], help: ArgumentHelp("Freeze a running container while it is copied (default true).", valueName: "bool")) var pause = true
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String
    @Argument(help: ArgumentHelp("The new image's name.", valueName: "image")) var image: String

    func run() throws {
        do {
            let made = try global.containers().commit(container, as: image, changes: change, comment: message, author: author, pause: pause)
            print(made.name)
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
