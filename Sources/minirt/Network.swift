import ArgumentParser
import FoundationEssentials
import MinirtCNI
import MinirtKit

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage networks (CNI conflists in minirt's config folder).",
        subcommands: [NetworkList.self, NetworkCreate.self, NetworkInspect.self, NetworkRemove.self, NetworkCheck.self])
}

struct NetworkList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List networks.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Only print names.") var quiet = false

    func run() throws {
        let c = global.containers()
        _ = try? c.networks.load(Networks.defaultName) // written on first use, as docker0 is
        let rows = c.networkViews()
        if quiet { rows.forEach { print($0.Name) }; return }
        let table = [["NAME", "DRIVER", "SUBNET", "GATEWAY", "CONTAINERS"]] + rows.map {
            [$0.Name, $0.Driver, $0.IPAM.Config.first?.Subnet ?? "", $0.IPAM.Config.first?.Gateway ?? "", String($0.Containers.count)]
        }
        print(formatTable(table), terminator: "")
    }
}

struct NetworkCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a network: writes a conflist.")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("IPv4 subnet in CIDR form.", valueName: "cidr")) var subnet: String
    @Option(help: ArgumentHelp("Gateway address (default: the subnet's first).", valueName: "ip")) var gateway: String?
    @Option(name: [.short, .long], help: ArgumentHelp("bridge, macvlan or ipvlan.", valueName: "driver")) var driver = "bridge"
    @Flag(help: "No outbound NAT and no default route.") var `internal` = false
    @Option(name: [.short, .customLong("opt")], help: ArgumentHelp("parent=IFACE for macvlan/ipvlan.", valueName: "key=value")) var opt: [String] = []
    @Argument(help: ArgumentHelp("Network name.", valueName: "name")) var name: String

    func run() throws {
        do {
            let parent = opt.first { $0.hasPrefix("parent=") }.map { String($0.dropFirst(7)) }
            let list = try global.containers().networks.create(name: name, subnet: subnet, gateway: gateway,
                                                               driver: driver, isInternal: `internal`, parent: parent)
            print(list.name)
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

struct NetworkInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show networks and their containers as JSON.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("Go template.", valueName: "template")) var format: String?
    @Argument(help: ArgumentHelp("Network names.", valueName: "network")) var names: [String]

    func run() throws {
        do {
            let c = global.containers()
            for n in names { _ = try c.networks.load(n) }
            let views = c.networkViews().filter { names.contains($0.Name) }
            if let format {
                let t = try Template(format)
                for v in views { print(try t.render(v)) }
            } else {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(views), as: UTF8.self))
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

struct NetworkRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove networks no container uses.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Network names.", valueName: "network")) var names: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(names) { try c.removeNetwork($0) }
    }
}

struct NetworkCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Run CNI CHECK on a container's network: are its veth, address, routes and rules intact?")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do {
            let network = try global.containers().checkNetwork(container)
            print("\(container): network \(network) is intact")
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
