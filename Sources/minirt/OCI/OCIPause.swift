import ArgumentParser
import MinirtKit

struct OCIPause: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", _superCommandName: "oci", abstract: "Freeze every process of a container.")
    @OptionGroup var global: OCIGlobalOptions
    @Argument var id: String
    func run() throws { try global.run { try $0.setPaused(id, true) } }
}

struct OCIResume: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", _superCommandName: "oci", abstract: "Thaw a paused container.")
    @OptionGroup var global: OCIGlobalOptions
    @Argument var id: String
    func run() throws { try global.run { try $0.setPaused(id, false) } }
}
