import ArgumentParser
import MinirtKit

struct OCIDelete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", _superCommandName: "oci", abstract: "Delete a stopped (or, with --force, any) container.")
    @OptionGroup var global: OCIGlobalOptions
    @Flag(name: [.short, .long], help: "Kill it first if it runs; a missing container is no error.") var force = false
    @Argument var id: String
    func run() throws { try global.run { try $0.delete(id, force: force) } }
}
