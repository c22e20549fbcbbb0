import ArgumentParser
import MinirtKit

struct OCIKill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", _superCommandName: "oci", abstract: "Send a signal (default SIGTERM) to a container's init.")
    @OptionGroup var global: OCIGlobalOptions
    @Flag(name: [.short, .long], help: "Signal every process of the container.") var all = false
    @Argument var id: String
    @Argument var signal = "SIGTERM"
    func run() throws { try global.run { try $0.kill(id, signal: try SignalName.parse(signal), all: all) } }
}
