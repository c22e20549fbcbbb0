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

    @Flag(name: .customLong("socket-lb"), help: "Show the connect-time load balancer (a bpf program on the cgroup2 root) and every entry it holds.")
    var socketLB = false

    @Argument(help: ArgumentHelp("Container name or id (or service name).", valueName: "container"))
    var container: String?

    func validate() throws {
        if !socketLB && container == nil { throw ValidationError("explain needs a container or service name (or --socket-lb)") }
    }

    func run() throws {
        if socketLB {
            print(Containers.explainSocketBalancer(), terminator: "")
            return
        }
        let container = self.container!
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
