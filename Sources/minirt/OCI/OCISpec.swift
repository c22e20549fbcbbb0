import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtKit
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

struct OCISpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spec", _superCommandName: "oci", abstract: "Write runc's default config.json into a bundle folder.")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("The bundle folder.", valueName: "dir")) var bundle = "."
    func run() throws {
        try global.run { _ in
            guard global.rootless != "true" else { throw OCIError("rootless containers are not supported: run as root") }
            let path = bundle + "/config.json"
            guard access(path, F_OK) != 0 else { throw OCIError("File \(path) exists. Remove it first") }
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try StateStore.writeAtomically(try e.encode(OCISpec.runcDefault()), to: path)
        }
    }
}
