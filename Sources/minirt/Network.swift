import ArgumentParser
import FoundationEssentials
import MinirtCNI
import MinirtKit

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage networks (CNI conflists in minirt's config folder).",
        subcommands: [NetworkList.self, NetworkCreate.self, NetworkInspect.self, NetworkRemove.self, NetworkPrune.self, NetworkCheck.self,
                       NetworkConnect.self, NetworkDisconnect.self])
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
    @Option(help: ArgumentHelp("Subnet in CIDR form: one IPv4, and with --ipv6 one IPv6 (default: a unique local /64).", valueName: "cidr")) var subnet: [String] = []
    @Option(help: ArgumentHelp("Gateway of a subnet (default: the subnet's first address).", valueName: "ip")) var gateway: [String] = []
    @Option(name: .customLong("ip-range"), help: ArgumentHelp("Where containers' addresses come from, inside a subnet.", valueName: "cidr")) var ipRange: [String] = []
    @Flag(name: .customLong("ipv6"), help: "Dual stack: an IPv6 subnet too (addresses, default route, NAT and published ports of both families).") var ipv6 = false
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
            // docker's: each subnet, gateway and range goes with its family.
            func one(_ values: [String], v6: Bool, _ flag: String) throws -> String? {
                let picked = values.filter { $0.contains(":") == v6 }
                guard picked.count <= 1 else {
                    throw RunError.invalid("--\(flag) is given twice for IPv\(v6 ? 6 : 4): give one of each family")
                }
                return picked.first
            }
            guard let subnet4 = try one(subnet, v6: false, "subnet") else {
                throw RunError.invalid("network create needs an IPv4 --subnet, such as 10.42.0.0/24 (and with --ipv6 an IPv6 one)")
            }
            let subnet6 = try one(subnet, v6: true, "subnet")
            if subnet6 != nil && !ipv6 {
                throw RunError.invalid("--subnet \(subnet6!) is IPv6: add --ipv6 to make the network dual stack")
            }
            let v6 = ipv6 ? Networks.IPv6Plan(subnet: subnet6, gateway: try one(gateway, v6: true, "gateway"),
                                              ipRange: try one(ipRange, v6: true, "ip-range")) : nil
            if !ipv6, let g = try one(gateway, v6: true, "gateway") ?? one(ipRange, v6: true, "ip-range") {
                throw RunError.invalid("\(g) is IPv6: add --ipv6 and an IPv6 --subnet")
            }
            let list = try c.networks.create(name: name, subnet: subnet4, gateway: try one(gateway, v6: false, "gateway"),
                                             driver: driver, isInternal: `internal`, parent: parent, ipMasq: ipMasq, isolated: isolated,
                                             bridgeName: bridgeName, mtu: mtu, interContainer: icc, bandwidth: bandwidth,
                                             ipRange: try one(ipRange, v6: false, "ip-range"), ipv6: v6)
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

struct NetworkConnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect", abstract: "Connect a container to a network: a running one gets the interface (eth1, …) now, every later start too.")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Its IPv4 address on the network.", valueName: "address")) var ip: String?
    @Option(help: ArgumentHelp("Its IPv6 address on a dual-stack network.", valueName: "address")) var ip6: String?
    @Option(help: ArgumentHelp("Another name it answers to on the network.", valueName: "name")) var alias: [String] = []
    @Argument(help: ArgumentHelp("Network name.", valueName: "network")) var network: String
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        var o = Containers.ConnectOptions()
        o.ip = ip
        o.ip6 = ip6
        o.aliases = alias
        do { try global.containers().connect(network: network, container: container, o) } catch { throw fail(error, defaultCode: 1) }
    }
}

struct NetworkDisconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect", abstract: "Disconnect a container from a network (a running one loses the interface now).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Release the attachment even if a plugin's DEL fails.") var force = false
    @Argument(help: ArgumentHelp("Network name.", valueName: "network")) var network: String
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do { try global.containers().disconnect(network: network, container: container, force: force) } catch { throw fail(error, defaultCode: 1) }
    }
}
