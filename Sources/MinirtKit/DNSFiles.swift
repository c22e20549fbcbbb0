/// The files minirt writes for each container and bind-mounts over
/// /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker does.
public enum DNSFiles {
    /// Used when the host only knows loopback resolvers and no upstream can be
    /// found: Docker's documented fallback.
    public static let fallbackNameservers = ["8.8.8.8", "8.8.4.4"]

    public static func hosts(hostname: String, name: String, address: String, aliases: [String] = [],
                             extraHosts: [(String, String)]) -> String {
        hosts(hostname: hostname, name: name, addresses: address.isEmpty ? [] : [address], aliases: aliases, extraHosts: extraHosts)
    }

    /// One line for each of the container's addresses (one per network, as docker writes them).
    public static func hosts(hostname: String, name: String, addresses: [String], aliases: [String] = [],
                             extraHosts: [(String, String)]) -> String {
        var s = """
        127.0.0.1\tlocalhost
        ::1\tlocalhost ip6-localhost ip6-loopback
        fe00::0\tip6-localnet
        ff00::0\tip6-mcastprefix
        ff02::1\tip6-allnodes
        ff02::2\tip6-allrouters

        """
        for (host, ip) in extraHosts { s += "\(ip)\t\(host)\n" }
        var names = [hostname]
        for n in [name] + aliases where !names.contains(n) { names.append(n) }
        for address in addresses where !address.isEmpty {
            s += "\(address)\t\(names.joined(separator: " "))\n"
        }
        return s
    }

    /// A container's resolv.conf from the host's: loopback resolvers (such as
    /// systemd-resolved's 127.0.0.53) cannot be reached from another network
    /// namespace, so they are replaced by the upstream list (systemd's
    /// /run/systemd/resolve/resolv.conf) or the fallback. Flags override.
    /// The resolvers a container (or the network's DNS server) can use instead of
    /// the host's loopback stubs: the host's own list minus loopback addresses,
    /// else systemd's upstream list, else the fallback.
    public static func upstreamServers(host: String, upstream: String?) -> [String] {
        let own = nameservers(host).filter { !isLoopback($0) }
        if !own.isEmpty { return own }
        let up = upstream.map(nameservers)?.filter { !isLoopback($0) } ?? []
        return up.isEmpty ? fallbackNameservers : up
    }

    static func nameservers(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return f.count > 1 && f[0] == "nameserver" ? String(f[1]) : nil
        }
    }

    /// With a network DNS server: the server first and kubelet's search list
    /// (`<network>.svc.<domain> svc.<domain> <domain> <network>`, then the
    /// host's) with ndots:5, so `web`, `web.<network>` and the cluster names
    /// all resolve, from the start: no rewrite when a service appears later.
    public static func resolvConf(host: String, upstream: String?, dns: [String], search: [String],
                                  options: [String], keepLoopback: Bool, networkServer: String?, networkDomain: String?,
                                  otherNetworks: [String] = [],
                                  clusterDomain: String = ServiceNetworkOptions.defaultClusterDomain) -> String {
        var s = search
        var o = options
        if let d = networkDomain {
            if search.isEmpty {
                let hostSearch = host.split(whereSeparator: \.isNewline).first { $0.hasPrefix("search ") || $0.hasPrefix("domain ") }
                    .map { $0.split(separator: " ").dropFirst().map(String.init) } ?? []
                // The container's other networks last: their names resolve too (the first server forwards them).
                let cluster = ["\(d).svc.\(clusterDomain)", "svc.\(clusterDomain)", clusterDomain, d] + otherNetworks.filter { $0 != d }
                s = cluster + hostSearch.filter { !cluster.contains($0) }
            }
            if options.isEmpty { o = ["ndots:5"] }
        }
        let servers = dns.isEmpty ? (networkServer.map { [$0] } ?? []) : dns
        return resolvConf(host: host, upstream: upstream, dns: servers, search: s, options: o, keepLoopback: keepLoopback)
    }

    public static func resolvConf(host: String, upstream: String?, dns: [String], search: [String],
                                  options: [String], keepLoopback: Bool) -> String {
        var servers: [String] = []
        var searches: [String] = []
        var opts: [String] = []
        func read(_ text: String) -> (servers: [String], search: [String], options: [String]) {
            var s: [String] = [], d: [String] = [], o: [String] = []
            for raw in text.split(whereSeparator: \.isNewline) {
                let f = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let key = f.first, !key.hasPrefix("#"), !key.hasPrefix(";") else { continue }
                switch key {
                case "nameserver" where f.count > 1: s.append(f[1])
                case "search", "domain": d = Array(f.dropFirst())
                case "options": o += f.dropFirst()
                default: break
                }
            }
            return (s, d, o)
        }
        let h = read(host)
        servers = keepLoopback ? h.servers : h.servers.filter { !isLoopback($0) }
        searches = h.search
        opts = h.options
        if servers.isEmpty && !keepLoopback {
            let up = upstream.map(read)?.servers.filter { !isLoopback($0) } ?? []
            servers = up.isEmpty ? fallbackNameservers : up
        }
        if !dns.isEmpty { servers = dns }
        if !search.isEmpty { searches = search == ["."] ? [] : search }
        if !options.isEmpty { opts = options }
        var out = "# Generated by minirt from the host's resolv.conf and the run's --dns flags.\n"
        if !searches.isEmpty { out += "search \(searches.joined(separator: " "))\n" }
        for s in servers { out += "nameserver \(s)\n" }
        if !opts.isEmpty { out += "options \(opts.joined(separator: " "))\n" }
        return out
    }

    static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address == "0:0:0:0:0:0:0:1"
    }

    /// `--add-host NAME:IP`; `host-gateway` stands for the network's gateway.
    public static func parseExtraHost(_ spec: String, gateway: String) throws -> (String, String) {
        guard let colon = spec.firstIndex(of: ":") else {
            throw RunError.invalid("invalid --add-host \"\(spec)\": write NAME:IP (or NAME:host-gateway)")
        }
        let name = String(spec[..<colon])
        var ip = String(spec[spec.index(after: colon)...])
        if ip.hasPrefix("[") && ip.hasSuffix("]") { ip = String(ip.dropFirst().dropLast()) }
        if ip == "host-gateway" {
            guard !gateway.isEmpty else {
                throw RunError.invalid("--add-host \(spec): host-gateway needs a network with a gateway (bridge)")
            }
            ip = gateway
        }
        guard Validate.isHostName(name, allowUnderscore: true) else {
            throw RunError.invalid("invalid --add-host \"\(Validate.printable(spec))\": \"\(Validate.printable(name))\" is not a host name (letters, digits, '-', '_', '.')")
        }
        guard Validate.isIP(ip) else { throw RunError.invalid("invalid --add-host \"\(Validate.printable(spec))\": \"\(Validate.printable(ip))\" is not an IP address") }
        return (name, ip)
    }

}

#if canImport(Glibc)
import Glibc
#endif
