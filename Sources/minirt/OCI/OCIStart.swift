import ArgumentParser
import MinirtKit

struct OCIStart: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", _superCommandName: "oci", abstract: "Start a created container.")
    @OptionGroup var global: OCIGlobalOptions
    @Argument var id: String
    func run() throws { try global.run { try $0.start(id) } }
}
