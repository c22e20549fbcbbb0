import ArgumentParser
import FoundationEssentials
import MinirtKit

struct OCIState: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", _superCommandName: "oci", abstract: "Print a container's runtime-spec state as JSON.")
    @OptionGroup var global: OCIGlobalOptions
    @Argument var id: String
    func run() throws {
        try global.run { c in
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try e.encode(try c.state(id)), as: UTF8.self))
        }
    }
}
