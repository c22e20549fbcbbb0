import ArgumentParser
import FoundationEssentials
import MinirtCNI
import MinirtKit

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage networks (CNI conflists in minirt's config folder).",
        subcommands: [NetworkList.self, NetworkCreate.self, NetworkInspect.self, NetworkRemove.self, NetworkPrune.self, NetworkCheck.self])
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
    @Option(name: [.short, .customLong("opt")],
            help: ArgumentHelp("parent=IFACE (macvlan/ipvlan); ip-masq=false (bridge: no outbound NAT, as Docker's com.docker.network.bridge.enable_ip_masquerade); isolate=false (bridge: reachable from other networks); com.docker.network.bridge.enable_icc=false (icc=false: containers of the network cannot reach each other); ingress-rate=10mbit, egress-rate=RATE (the bandwidth plugin, per container).",
                               valueName: "key=value")) var opt: [String] = []
    @Option(name: .customLong("service-range"), help: ArgumentHelp("Where its services' virtual IPs come from (default: a free /24 of 10.96.0.0/16).", valueName: "cidr"))
    var serviceRange: String?
    @Option(name: .customLong("cluster-domain"), help: ArgumentHelp("Its services' and pods' DNS domain (default: cluster.local).", valueName: "domain"))
    var clusterDomain: String?
    @Argument(help: ArgumentHelp("Network name.", valueName: "name")) var name: String

    func run() throws {
        do {
            var parent: String?
            var ipMasq = true
            var isolated = true
            var bridgeName: String?
            var mtu: Int?
            var icc = true
            var bandwidth = Networks.Bandwidth()
            for o in opt {
                let kv = o.split(separator: "=", maxSplits: 1).map(String.init)
                switch (kv[0], kv.count > 1 ? kv[1] : "") {
                case ("parent", let v): parent = v
                case ("ip-masq", "false"), ("com.docker.network.bridge.enable_ip_masquerade", "false"): ipMasq = false
                case ("ip-masq", "true"), ("com.docker.network.bridge.enable_ip_masquerade", "true"): ipMasq = true
                case ("com.docker.network.bridge.name", let v): bridgeName = v
                case ("com.docker.network.driver.mtu", let v), ("mtu", let v):
                    guard let m = Int(v) else { throw RunError.invalid("invalid MTU \"\(v)\": give a number such as 1450") }
                    mtu = m
                case ("icc", "false"), ("com.docker.network.bridge.enable_icc", "false"): icc = false
                case ("icc", "true"), ("com.docker.network.bridge.enable_icc", "true"): icc = true
                case ("ingress-rate", let v): bandwidth.ingressRate = try Networks.Bandwidth.bits(v, option: "ingress-rate")
                case ("ingress-burst", let v): bandwidth.ingressBurst = try Networks.Bandwidth.bits(v, option: "ingress-burst")
                case ("egress-rate", let v): bandwidth.egressRate = try Networks.Bandwidth.bits(v, option: "egress-rate")
                case ("egress-burst", let v): bandwidth.egressBurst = try Networks.Bandwidth.bits(v, option: "egress-burst")
                case ("isolate", "false"): isolated = false
                case ("isolate", "true"): isolated = true
                default: throw RunError.invalid("unknown network option \"\(o)\": use parent=IFACE, ip-masq=true|false, isolate=true|false, icc=true|false, ingress-rate=RATE, egress-rate=RATE, com.docker.network.bridge.name=NAME or com.docker.network.driver.mtu=N")
                }
            }
            let c = global.containers()
            if (serviceRange != nil || clusterDomain != nil) && driver != "bridge" {
                throw RunError.invalid("--service-range and --cluster-domain are for bridge networks: services need the host's netfilter")
            }
            let list = try c.networks.create(name: name, subnet: subnet, gateway: gateway,
                                             driver: driver, isInternal: `internal`, parent: parent, ipMasq: ipMasq, isolated: isolated,
                                             bridgeName: bridgeName, mtu: mtu, interContainer: icc, bandwidth: bandwidth)
            if serviceRange != nil || clusterDomain != nil {
                do { try c.services.setNetworkOptions(list.name, range: serviceRange, clusterDomain: clusterDomain) } catch {
                    try? c.networks.remove(list.name)
                    throw error
                }
            }
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
            try printViews(views, template: try format.map(Template.init))
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

struct NetworkPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove every network no container or service uses (the default stays).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Do not ask (minirt never asks).") var force = false
    func run() throws {
        let removed = global.containers().pruneNetworks()
        print("Deleted Networks:")
        removed.forEach { print($0) }
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
