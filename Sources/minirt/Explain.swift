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

    @Flag(help: "Explain a service: its virtual IP, endpoints, rules and names (also when no container has the name).")
    var service = false

    @Argument(help: ArgumentHelp("Container name or id (or service name).", valueName: "container"))
    var container: String

    func run() throws {
        do {
            let c = global.containers()
            let path: PacketPath
            if service || ((try? c.get(container)) == nil && (try? c.services.definitions.load(container)) != nil) {
                path = try c.explainService(container)
            } else {
                path = try c.explain(container)
            }
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
