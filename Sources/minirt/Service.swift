import ArgumentParser
import FoundationEssentials
import MinirtKit

struct Service: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Manage services: a virtual IP and DNS names in front of containers (Kubernetes-style, on one host).",
        subcommands: [ServiceCreate.self, ServiceList.self, ServiceInspect.self, ServiceRemove.self])
}

struct ServiceCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a service.",
        discussion: """
        New connections to the service's virtual IP (or node port) are spread over the running
        containers it selects, by nftables rules in the table inet minirt (minirt explain NAME
        shows them). Its names resolve on the network's DNS server: NAME, NAME.NETWORK and
        NAME.NETWORK.svc.cluster.local.
        """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("port"), help: ArgumentHelp("PORT[:TARGETPORT][/tcp|udp] (repeatable).", valueName: "port"))
    var ports: [String] = []
    @Option(name: .customLong("selector"), help: ArgumentHelp("Containers labelled KEY=VALUE serve it (repeatable: all must match).", valueName: "key=value"))
    var selector: [String] = []
    @Option(name: .customLong("target"), help: ArgumentHelp("This container serves it (repeatable).", valueName: "container"))
    var targets: [String] = []
    @Option(help: ArgumentHelp("The bridge network it lives on (default: bridge).", valueName: "network"))
    var network: String?
    @Option(name: .customLong("ip"), help: ArgumentHelp("Its virtual IP, inside the network's service range.", valueName: "ip"))
    var ip: String?
    @Option(name: .customLong("node-port"), help: ArgumentHelp("Publish the --port in the same position on this port of every host address, 30000-32767 (repeatable).", valueName: "port"))
    var nodePorts: [String] = []
    @Option(name: .customLong("session-affinity"), help: ArgumentHelp("none or client-ip (a client keeps its endpoint for 3 hours).", valueName: "mode"))
    var sessionAffinity: String?
    @Flag(help: "No virtual IP: its name resolves to each endpoint's address.") var headless = false
    @Argument(help: ArgumentHelp("Service name (a DNS label).", valueName: "name")) var name: String

    func run() throws {
        do {
            var q = ServiceRequest(name: name)
            q.ports = ports; q.selector = selector; q.targets = targets; q.network = network; q.ip = ip
            q.nodePorts = nodePorts; q.sessionAffinity = sessionAffinity; q.headless = headless
            let (d, warnings) = try global.containers().services.create(q)
            var err = StandardError()
            for w in warnings { print("minirt: warning: \(w)", to: &err) }
            print(d.name)
        } catch {
            throw fail(error, defaultCode: 125)
        }
    }
}

struct ServiceList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List services.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Only print names.") var quiet = false

    func run() throws {
        let s = global.containers().services
        let defs = s.list()
        if quiet { defs.forEach { print($0.name) }; return }
        let rows = defs.map { d -> [String] in
            let v = s.view(d)
            let ports = d.ports.map { "\($0.port)\($0.nodePort.map { ":\($0)" } ?? "")/\($0.proto)" }.joined(separator: ",")
            return [d.name, d.network, v.ClusterIP, ports.isEmpty ? "<none>" : ports, String(v.Endpoints.count)]
        }
        print(formatTable([["NAME", "NETWORK", "CLUSTER-IP", "PORT(S)", "ENDPOINTS"]] + rows), terminator: "")
    }
}

struct ServiceInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show services and their live endpoints as JSON.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("Go template.", valueName: "template")) var format: String?
    @Argument(help: ArgumentHelp("Service names.", valueName: "service")) var names: [String]

    func run() throws {
        do {
            let s = global.containers().services
            let views = try names.map { s.view(try s.definitions.load($0)) }
            try printViews(views, template: try format.map(Template.init))
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

struct ServiceRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove services: their rules, route and DNS names.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Service names.", valueName: "service")) var names: [String]

    func run() throws {
        let s = global.containers().services
        try forEachName(names) { try s.remove($0) }
    }
}
