import ArgumentParser
import FoundationEssentials
import MinirtKit

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the path a packet takes to and from a container, read from the kernel.",
        discussion: """
        Its network namespace and how to enter it, its interfaces and routes, the veth pair
        and the bridge, the NAT and DNAT rules that belong to it, its DNS files and the CNI
        plugin calls; each with the command that shows it.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("text or json.", valueName: "format"))
    var format = "text"

    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container"))
    var container: String

    func run() throws {
        do {
            let path = try global.containers().explain(container)
            if format == "json" {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(path), as: UTF8.self))
            } else {
                print(path.text, terminator: "")
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
