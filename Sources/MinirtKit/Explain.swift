import FoundationEssentials
import MinirtEngine
import Glibc
import MinirtCNI
import MinirtState

/// `minirt explain NAME`: the path a packet takes to and from a container, read
/// back from the kernel (iproute2's JSON output, iptables-save), each part with
/// the command that shows it. The learner's map of what the plugins built.
public struct PacketPath: Encodable, Sendable {
    public struct Item: Encodable, Sendable {
        public var title: String
        public var lines: [String]
        /// The command that shows this part, to run by hand.
        public var command: String
    }

    public var container: String
    public var id: String
    public var network: String
    public var pid: Int32
    public var items: [Item] = []
}

extension Containers {
    public func explain(_ ref: String) throws -> PacketPath {
        let r = try get(ref)
        guard r.state.status == .running, ProcessIdentity.isAlive(pid: r.state.pid, startTime: r.state.pidStartTime) else {
            throw LifecycleError.notRunning(r.name)
        }
        var path = PacketPath(container: r.name, id: r.id, network: r.hostConfig.networkMode, pid: r.state.pid)
        let n = r.network
        // The namespace to look into: the pin for CNI networks, the init's otherwise
        // (`ip -n` takes only names under /var/run/netns, so that one goes through nsenter).
        let pinName = n.map { URL(fileURLWithPath: $0.netnsPath).lastPathComponent }
        let insideShown = pinName.map { "ip -n \($0)" } ?? "nsenter --net=/proc/\(r.state.pid)/ns/net ip"

        func ip(_ args: [String], inside: Bool = false) -> [JSONValue] {
            let out: String?
            switch (inside, pinName) {
            case (false, _): out = try? Command.run("/usr/sbin/ip", ["-j"] + args)
            case (true, let pin?): out = try? Command.run("/usr/sbin/ip", ["-j", "-n", pin] + args)
            case (true, nil): out = try? Command.run("/usr/bin/nsenter", ["--net=/proc/\(r.state.pid)/ns/net", "/usr/sbin/ip", "-j"] + args)
            }
            return (try? JSONValue.parse(out ?? "[]"))?.arrayValue ?? []
        }
        func int(_ v: JSONValue?) -> Int? { if case .int(let i)? = v { return Int(i) } else { return nil } }

        // 1. The namespace.
        if let n, let pin = pinName {
            path.items.append(.init(title: "network namespace", lines: [
                "pinned at \(n.netnsPath) (a bind mount that keeps it alive until CNI DEL)",
                "enter it: ip netns exec \(pin) sh   or: nsenter --net=\(n.netnsPath) sh",
            ], command: "ip netns list"))
        } else if r.hostConfig.networkMode == "host" {
            path.items.append(.init(title: "network namespace", lines: ["the host's own: no veth, no NAT, nothing to explain"],
                                    command: "readlink /proc/\(r.state.pid)/ns/net /proc/self/ns/net"))
            return path
        } else {
            path.items.append(.init(title: "network namespace", lines: ["/proc/\(r.state.pid)/ns/net (\(r.hostConfig.networkMode))"],
                                    command: "readlink /proc/\(r.state.pid)/ns/net"))
        }

        // 2. Inside: interfaces and routes.
        var peerIndex: Int?
        var insideIndex: Int?
        var lines: [String] = []
        for link in ip(["addr"], inside: true) {
            let name = link["ifname"]?.stringValue ?? "?"
            let addrs = (link["addr_info"]?.arrayValue ?? []).compactMap { a -> String? in
                guard a["family"]?.stringValue == "inet", let l = a["local"]?.stringValue else { return nil }
                return "\(l)/\(int(a["prefixlen"]) ?? 0)"
            }
            var line = "\(name): " + (addrs.isEmpty ? "no IPv4 address" : addrs.joined(separator: ", "))
            if let mac = link["address"]?.stringValue, name != "lo" { line += ", mac \(mac)" }
            if let peer = int(link["link_index"]) {
                line += ", veth peer is host interface \(peer)"
                if name == n?.ifName || peerIndex == nil { peerIndex = peer; insideIndex = int(link["ifindex"]) }
            }
            lines.append(line)
        }
        path.items.append(.init(title: "interfaces inside", lines: lines, command: "\(insideShown) addr"))
        let routes = ip(["route"], inside: true).map { rt -> String in
            var s = rt["dst"]?.stringValue ?? "?"
            if let via = rt["gateway"]?.stringValue { s += " via \(via)" }
            if let dev = rt["dev"]?.stringValue { s += " dev \(dev)" }
            if let src = rt["prefsrc"]?.stringValue { s += " src \(src)" }
            return s
        }
        path.items.append(.init(title: "routes inside", lines: routes, command: "\(insideShown) route"))

        // 3. The host end of the veth and what it is plugged into.
        if let peerIndex, let host = ip(["link", "show"]).first(where: { int($0["ifindex"]) == peerIndex }) {
            let name = host["ifname"]?.stringValue ?? "?"
            var l = ["host end \(name) (index \(peerIndex)) <-> container end \(n?.ifName ?? "eth0") (index \(insideIndex.map(String.init) ?? "?") inside)"]
            if let master = host["master"]?.stringValue {
                let bridgeAddrs = ip(["addr", "show", "dev", master]).first?["addr_info"]?.arrayValue?
                    .compactMap { a -> String? in a["family"]?.stringValue == "inet" ? a["local"]?.stringValue.map { "\($0)/\(int(a["prefixlen"]) ?? 0)" } : nil } ?? []
                l.append("plugged into the bridge \(master) (\(bridgeAddrs.joined(separator: ", "))), the container's gateway")
                path.items.append(.init(title: "veth pair", lines: l, command: "bridge link show dev \(name)"))
            } else {
                let hostRoutes = ip(["route", "show", "dev", name]).compactMap { $0["dst"]?.stringValue }
                if !hostRoutes.isEmpty { l.append("no bridge: the host routes \(hostRoutes.joined(separator: ", ")) to it") }
                path.items.append(.init(title: "veth pair", lines: l, command: "ip -d link show \(name)"))
            }
        }

        // 4. NAT and DNAT rules that belong to it (the plugins tag them with its id).
        let nat = (try? Command.run("/usr/sbin/iptables-save", ["-t", "nat"])) ?? ""
        let rules = nat.split(separator: "\n").map(String.init)
        let own = rules.filter { $0.hasPrefix("-A ") && $0.contains(r.id) }
        let masq = own.filter { $0.contains("MASQUERADE") || $0.hasPrefix("-A POSTROUTING") || ($0.contains("-j ACCEPT") && !$0.contains("DN-")) }
        if !masq.isEmpty {
            path.items.append(.init(title: "outbound NAT (source rewritten to the host's address)", lines: masq,
                                    command: "iptables -t nat -S POSTROUTING"))
        } else if n != nil {
            path.items.append(.init(title: "outbound NAT", lines: ["none: the container's own address leaves the host"],
                                    command: "iptables -t nat -S POSTROUTING"))
        }
        // portmap: CNI-HOSTPORT-DNAT (tagged with the id) jumps to a chain of the container's own.
        let jumps = own.filter { $0.hasPrefix("-A CNI-HOSTPORT-DNAT ") }
        let dnatChains = Set(jumps.compactMap { line -> String? in
            guard let r = line.firstRange(of: " -j CNI-DN-") else { return nil }
            return String(line[line.index(r.lowerBound, offsetBy: 4)...]).split(separator: " ").first.map(String.init)
        })
        let dnat = jumps + rules.filter { line in dnatChains.contains { line.hasPrefix("-A \($0) ") } && line.contains("DNAT") }
        var published = r.hostConfig.portBindings.map { b in
            "\(b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP):\(b.hostPort)/\(b.proto) -> \(n?.ipAddress ?? "?"):\(b.containerPort)"
        }
        published += dnat
        if !published.isEmpty {
            path.items.append(.init(title: "published ports (kernel DNAT, no proxy)", lines: published,
                                    command: "iptables -t nat -S CNI-HOSTPORT-DNAT; iptables -t nat -S \(dnatChains.sorted().first ?? "CNI-DN-…")"))
        }

        // minirt's own rules (nftables table inet minirt): the loopback guard in front of portmap.
        if !r.hostConfig.portBindings.isEmpty {
            let own = HostFirewall.listing().map { text in
                text.split(separator: "\n").map { $0.trimmed() }
                    .filter { $0.contains("daddr") || $0.hasPrefix("type ") }
            }
            path.items.append(.init(title: "minirt's own rules (raw priority, before portmap's DNAT)",
                                    lines: own ?? ["missing: table \(HostFirewall.family) \(HostFirewall.table) is gone; a port published on 127.0.0.1 would answer the LAN (re-run the container)"],
                                    command: "nft list table \(HostFirewall.family) \(HostFirewall.table)"))
        }

        // Services it serves: their virtual IPs balance new connections to it.
        if n != nil {
            let defs = services.definitions.all().filter { $0.network == n?.network && $0.selects(r) }
            if !defs.isEmpty {
                let lines = defs.map { d -> String in
                    let eps = services.installed(d.id)?.endpoints ?? []
                    let serving = eps.contains { $0.id == r.id }
                    let ports = d.ports.map { "\(d.isHeadless ? "" : d.clusterIP + ":")\($0.port)/\($0.proto) -> :\($0.targetPort)" }.joined(separator: ", ")
                    return "\(d.name): \(ports)" + (serving ? ", 1 of \(eps.count) endpoints (each new connection: 1/\(eps.count))" : ", not an endpoint now")
                }
                path.items.append(.init(title: "services it serves (minirt explain --service NAME shows their rules)", lines: lines,
                                        command: "minirt service ls"))
            }
        }

        // 5. Names.
        func firstLines(_ p: String, _ k: Int) -> [String] {
            ((try? String(contentsOfFile: p, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { !$0.hasPrefix("#") }.prefix(k).map(String.init)
        }
        path.items.append(.init(title: "/etc/resolv.conf (bind-mounted from \(r.resolvConfPath))",
                                lines: firstLines(r.resolvConfPath, 6), command: "minirt exec \(r.name) cat /etc/resolv.conf"))
        path.items.append(.init(title: "/etc/hosts (bind-mounted from \(r.hostsPath))",
                                lines: firstLines(r.hostsPath, 8), command: "minirt exec \(r.name) cat /etc/hosts"))

        // 6. What the plugins were given and returned.
        let log = (try? String(contentsOfFile: store.directory(r.id) + "/cni.log", encoding: .utf8)) ?? ""
        var calls: [String] = []
        for line in log.split(separator: "\n") {
            guard let e = try? JSONValue.parse(String(line)) else { continue }
            let env = e["environment"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let command = env.first { $0.hasPrefix("CNI_COMMAND=") }.map { String($0.dropFirst(12)) } ?? "?"
            let ifName = env.first { $0.hasPrefix("CNI_IFNAME=") }.map { String($0.dropFirst(11)) } ?? "?"
            var s = "\(command) \(e["plugin"]?.stringValue ?? "?") \(ifName)"
            if case .int(let code)? = e["exitCode"], code != 0 { s += " failed (exit \(code))" }
            if let out = e["stdout"]?.stringValue, let result = try? JSONValue.parse(out),
               let ips = result["ips"]?.arrayValue, !ips.isEmpty {
                s += " -> " + ips.compactMap { $0["address"]?.stringValue }.joined(separator: ", ")
            }
            calls.append(s)
        }
        if !calls.isEmpty {
            path.items.append(.init(title: "CNI plugin calls (environment, config and result of each)", lines: calls,
                                    command: "cat \(store.directory(r.id))/cni.log"))
        }
        return path
    }
}

extension Containers {
    /// `minirt explain --service NAME`: the virtual IP, its route, the endpoints
    /// and their odds, the rules as the kernel holds them, the DNS names.
    public func explainService(_ name: String) throws -> PacketPath {
        let d = try services.definitions.load(name)
        var path = PacketPath(container: "service \(d.name)", id: d.id, network: d.network, pid: 0)
        let installed = services.installed(d.id)
        let eps = installed?.endpoints ?? []
        let options = services.definitions.options(d.network)
        if d.isHeadless {
            path.items.append(.init(title: "headless: no virtual IP and no rules", lines: [
                "its name answers each endpoint's own address; clients connect to them directly",
            ], command: "minirt service inspect \(d.name)"))
        } else {
            let range = options?.serviceRange ?? "?"
            let route = (try? Command.run("/usr/sbin/ip", ["route", "show", range])) ?? ""
            path.items.append(.init(title: "virtual IP", lines: [
                "\(d.clusterIP), from network \(d.network)'s service range \(range); on no interface",
                "route: \(route.trimmed().isEmpty ? "missing (minirt system gc restores it)" : route.trimmed()) (host processes connect() through it; NAT rewrites the destination after)",
            ] + d.ports.map { p in
                "port \(p.port)/\(p.proto) -> endpoints' \(p.targetPort)" + (p.nodePort.map { ", node port \($0) on every host address (and 127.0.0.1)" } ?? "")
            }, command: "ip route show \(range)"))
        }
        let epLines = eps.isEmpty ? ["none: connections are refused at once (reject-unserved)"]
            : eps.map { "\($0.address) (\($0.name)): each new connection 1/\(eps.count)" + (d.sessionAffinity == "ClientIP" ? ", a client then stays (client-ip affinity)" : "") }
        path.items.append(.init(title: "endpoints (running containers it selects)", lines: epLines,
                                command: "minirt ls --filter " + (d.selector.first.map { "label=\($0.key)=\($0.value)" } ?? "name=\(d.targets.first ?? "")")))
        if !d.isHeadless {
            let chains = Set(installed?.chains ?? [])
            var lines: [String] = []
            if let text = HostFirewall.listing() {
                var current: String?
                for raw in text.split(separator: "\n") {
                    let line = raw.trimmed()
                    if line.hasPrefix("chain ") { current = String(line.dropFirst(6).dropLast(2)) ; if chains.contains(current!) { lines.append("chain \(current!)") }; continue }
                    if line == "}" { current = nil; continue }
                    if let c = current, chains.contains(c) { lines.append("  " + line) }
                }
                // The dispatch entries, as installed, each checked against the kernel's listing.
                let flat = text.replacing("\n", with: " ").split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                let entries = (installed?.elements ?? []).map { e -> String in
                    let f = e.split(separator: "|", maxSplits: 2).map(String.init)
                    let entry = "\(f[1]) : goto \(f[2])"
                    return "map \(f[0]): \(entry)" + (flat.contains(entry) ? "" : "  (missing in the kernel: minirt system gc rewrites it)")
                }
                lines = entries + lines
                if lines.isEmpty { lines = ["missing: its rules are not in the kernel (minirt system gc rewrites them)"] }
            } else {
                lines = ["missing: table \(HostFirewall.family) \(HostFirewall.table) is gone (minirt system gc rewrites it)"]
            }
            path.items.insert(.init(title: "rules (nft, table inet minirt): dispatch map -> service chain (a pick per endpoint, 1/N each) -> DNAT",
                                    lines: lines, command: "nft list table inet minirt"), at: path.items.count)
        }
        if !d.isHeadless { path.items.append(socketPath(d)) }
        let domain = services.definitions.clusterDomain(of: d.network)
        path.items.append(.init(title: "DNS names (on network \(d.network)'s server, never forwarded)",
                                lines: Services.dnsNames(d, domain: domain).map { "\($0) -> \(d.isHeadless ? eps.map(\.address).joined(separator: ", ") : d.clusterIP)" },
                                command: "minirt run --rm --network \(d.network) busybox nslookup \(d.name)"))
        return path
    }
}

extension Containers {
    /// The service's entries in the connect-time balancer, read back from its maps.
    func socketPath(_ d: ServiceDefinition) -> PacketPath.Item {
        let title = "connect-time balancing (bpf cgroup/connect4 program \(SocketLB.programName) on \(SocketLB.cgroupRoot ?? "no cgroup2"))"
        let command = "minirt explain --socket-lb"
        guard Services.socketBalancingEnabled, let world = Services.world else {
            return .init(title: title, lines: ["off (MINIRT_SOCKET_LB=0): every connection takes the rules"], command: command)
        }
        if let why = FileManager.default.contents(atPath: services.socketOffReason).map({ String(decoding: $0, as: UTF8.self) }) {
            return .init(title: title, lines: ["off: \(why); every connection takes the rules"], command: command)
        }
        var lines: [String] = []
        let keys = Services.socketKeys(d, world: world)
        _ = try? SocketLB.with(attach: false) { lb in
            for (k, p) in keys {
                if let b = lb?.backends(of: k), !b.isEmpty {
                    lines.append("\(k.address):\(p.port)/tcp -> " + b.map { "\($0.address):\($0.port)" }.joined(separator: ", ")
                                 + ": a TCP connect() from this host or a container on a bridge network gets one of these, 1/\(b.count) each; its packets then need no DNAT")
                } else {
                    lines.append("\(k.address):\(p.port)/tcp: no entry (no endpoint), so the rules answer")
                }
            }
            if let lb { lines.append("client namespaces registered: \(lb.clients(of: world).count) (the host's and each running container's on a bridge network)") }
        }
        for p in d.ports where !keys.contains(where: { $0.port == p }) {
            lines.append("\(d.clusterIP):\(p.port)/\(p.proto): through the rules only (" + (p.proto == "udp" ? "UDP must move with its next datagram when an endpoint goes" : "client-ip affinity") + ")")
        }
        if d.ports.contains(where: { $0.nodePort != nil }) { lines.append("node ports: through the rules only (DNAT on local addresses)") }
        return .init(title: title, lines: lines, command: command)
    }

    /// `minirt explain --socket-lb`: the balancer as the kernel holds it, every world.
    public static func explainSocketBalancer() -> String {
        var out = ""
        _ = try? SocketLB.with(attach: false) { lb in
            guard let lb else {
                out = "socket load balancer: not attached\n"
                // Left by an older minirt or a crash: minirt system gc detaches them.
                for name in SocketLB.staleProgramNames() { out += "left behind: \(name); minirt system gc detaches it\n" }
                return
            }
            out = "socket load balancer: \(SocketLB.programName) attached to \(SocketLB.cgroupRoot ?? "?") (cgroup/connect4)"
                + (lb.peerProg >= 0 ? ", \(SocketLB.peerProgramName) (cgroup/getpeername4: a balanced socket's peer reads as the VIP)\n" : "; no getpeername4 hook: a balanced socket's peer reads as its endpoint\n")
            let here = Services.world
            for w in lb.worldsInUse() {
                out += "world \(w)\(w == here ? " (this network namespace)" : ""): \(lb.clients(of: w).count) client namespaces\n"
                for k in lb.services(of: w) {
                    out += "  \(k.address):\(k.port)/tcp -> " + (lb.backends(of: k) ?? []).map { "\($0.address):\($0.port)" }.joined(separator: ", ") + "\n"
                }
            }
        }
        return out
    }
}

extension PacketPath {
    public var text: String {
        var out = container.hasPrefix("service ") ? "\(container) (\(id.prefix(12))), network \(network)\n"
            : "container \(container) (\(id.prefix(12))), pid \(pid), network \(network)\n"
        for item in items {
            out += "\n\(item.title)\n"
            for l in item.lines { out += "  \(l)\n" }
            out += "  $ \(item.command)\n"
        }
        return out
    }
}
