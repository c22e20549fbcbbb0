import FoundationEssentials
import MinirtCNI
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// Name resolution between containers: one dnsmasq per bridge network, on the
/// network's gateway address, answering for every attached container's name,
/// hostname and aliases (each also as NAME.<network>) and forwarding the rest
/// upstream. Names stay live: the hosts file is rewritten and dnsmasq reloaded
/// (SIGHUP) as containers come and go (podman's dnsname plugin did the same;
/// per-container hosts files go stale, nerdctl#1149). The server starts with the
/// network's first container and stops with its last.
struct NetworkDNS {
    static let binary = "/usr/sbin/dnsmasq"
    /// `<state root>/.dns/<network>/`: entries.json and hosts (containers),
    /// services.json and services.hosts (a VIP's first name, NAME.<network>.svc.<domain>,
    /// is what its PTR answers), servers.conf (forwards to other networks), dnsmasq.pid.
    let root: String

    struct Entry: Codable, Equatable {
        var address: String
        var names: [String]
        /// A dual-stack container's IPv6 address: its names get AAAA records too.
        var address6: String?

        /// Its hosts-file lines; the pod record (A-B-C-D.…) belongs to the IPv4 address only.
        var lines: String {
            var out = "\(address) \(names.joined(separator: " "))\n"
            if let a6 = address6 { out += "\(a6) \(names.filter { !$0.contains(".pod.") }.joined(separator: " "))\n" }
            return out
        }
    }

    func directory(_ network: String) -> String { "\(root)/\(network)" }

    /// Whether a network gets a DNS server: bridge networks with a gateway on the host.
    static func serves(_ list: NetworkConfigList) -> Bool {
        guard let first = list.plugins.first, list.types.first == "bridge" else { return false }
        return first["isGateway"]?.boolValue == true
    }

    static func names(for r: ContainerRecord, network: String, aliases: [String], address: String = "",
                      clusterDomain: String = ServiceNetworkOptions.defaultClusterDomain) -> [String] {
        var out: [String] = []
        for n in [r.name, r.config.hostname] + aliases where !n.isEmpty {
            for v in [n, "\(n).\(network)"] where !out.contains(v) { out.append(v) }
        }
        // Kubernetes' pod record: 10-244-2-5.<namespace>.pod.<cluster domain>.
        if !address.isEmpty { out.append("\(address.replacing(".", with: "-")).\(network).pod.\(clusterDomain)") }
        return out
    }

    /// A server started in the background while the rest of the CNI chain runs.
    struct Launch {
        let pid: pid_t
        let stderr: Int32
    }

    /// Starts the network's server unless one runs, without waiting for it: the
    /// gateway address exists once the bridge plugin has run, and dnsmasq's first
    /// process exits only after it has bound its socket (`register` waits for that).
    func beginStart(network: String, gateway: String, upstream: [String], domain: String) -> Launch? {
        let dir = directory(network)
        guard (try? StateStore.makeDirectory(dir)) != nil else { return nil }
        return try? StateStore(root: dir).withLock(dir + "/.lock") {
            runningPid(dir) == nil ? try spawn(dir: dir, network: network, gateway: gateway, upstream: upstream, domain: domain) : nil
        } ?? nil
    }

    /// Spawns dnsmasq; the caller holds the network's lock.
    private func spawn(dir: String, network: String, gateway: String, upstream: [String], domain: String) throws -> Launch {
        guard access(Self.binary, X_OK) == 0 else {
            throw RunError.invalid("\(Self.binary) is missing: install dnsmasq-base (containers resolve each other's names through it)")
        }
        for f in ["hosts", "services.hosts", "servers.conf"] where access("\(dir)/\(f)", F_OK) != 0 {
            try StateStore.writeAtomically(Data(), to: "\(dir)/\(f)")
        }
        var err: [Int32] = [-1, -1]
        guard pipe(&err) == 0 else { throw RunError.invalid("pipe: \(String(cString: strerror(errno)))") }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null); close(err[1]) }
        let spawned = ChildProcess.spawn(Self.binary, arguments: arguments(dir: dir, network: network, gateway: gateway,
                                                                          upstream: upstream, domain: domain),
                                         environment: [], stdio: (null, null, err[1]), closing: err)
        guard case .success(let pid) = spawned else {
            close(err[0])
            throw RunError.invalid("cannot run \(Self.binary) for network \(network)")
        }
        return Launch(pid: pid, stderr: err[0])
    }

    /// Waits for a background start; the error, if it failed and no server runs.
    func finish(_ l: Launch, network: String, gateway: String) throws {
        var status: Int32 = 0
        while waitpid(l.pid, &status, 0) < 0 && errno == EINTR {}
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(l.stderr, &buf, buf.count)
        close(l.stderr)
        if status != 0 && runningPid(directory(network)) == nil {
            let why = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ") : "exit status \(status)"
            throw RunError.invalid("cannot start the DNS server of network \(network) on \(gateway): \(why)")
        }
    }

    /// Stops the server if no container is registered (after a failed attach).
    func stopIfUnused(network: String) {
        let dir = directory(network)
        try? StateStore(root: dir).withLock(dir + "/.lock") {
            if load(dir).isEmpty, let pid = runningPid(dir) { kill(pid, SIGTERM); waitGone(pid) }
        }
    }

    /// Adds the container's names and (re)loads or starts the server.
    func register(network: String, gateway: String, id: String, entry: Entry, upstream: [String], domain: String) throws {
        let dir = directory(network)
        try StateStore.makeDirectory(dir)
        try StateStore(root: dir).withLock(dir + "/.lock") {
            var entries = load(dir)
            entries[id] = entry
            try save(entries, dir: dir)
            if let pid = runningPid(dir) {
                kill(pid, SIGHUP)
            } else {
                // Not started during the ADD (or stopped since): start it now and wait.
                try finish(try spawn(dir: dir, network: network, gateway: gateway, upstream: upstream, domain: domain),
                           network: network, gateway: gateway)
            }
        }
    }

    /// A domain this server hands to another network's server.
    struct Forward: Equatable {
        var domain: String
        var server: String
        var line: String { "server=/\(domain)/\(server)\n" }
    }

    /// Adds forwards to the server's servers.conf (dnsmasq re-reads it on SIGHUP).
    /// Each domain is a network's name and the server an IPv4 or IPv6 gateway:
    /// nothing else reaches the file.
    func forward(network: String, _ forwards: [Forward]) {
        let dir = directory(network)
        guard access(dir, F_OK) == 0 else { return }
        let valid = forwards.filter { f in
            !f.domain.isEmpty && f.domain.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
                && Validate.isIP(f.server)
        }
        try? StateStore(root: dir).withLock(dir + "/.lock") {
            let path = dir + "/servers.conf"
            let old = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
            var lines = old.split(separator: "\n").map { String($0) + "\n" }
            // A domain has one server: a network made again with another gateway replaces its line.
            for f in valid where !lines.contains(f.line) {
                lines.removeAll { $0.hasPrefix("server=/\(f.domain)/") }
                lines.append(f.line)
            }
            let text = lines.joined()
            guard text != old else { return }
            try StateStore.writeAtomically(Data(text.utf8), to: path)
            if let pid = runningPid(dir) { kill(pid, SIGHUP) }
        }
    }

    /// Removes the container's names; the last one out stops the server.
    func unregister(network: String, id: String) {
        let dir = directory(network)
        guard access(dir, F_OK) == 0 else { return }
        try? StateStore(root: dir).withLock(dir + "/.lock") {
            var entries = load(dir)
            guard entries.removeValue(forKey: id) != nil else { return }
            if entries.isEmpty {
                if let pid = runningPid(dir) { kill(pid, SIGTERM); waitGone(pid) }
                // upstream.conf: a server an older minirt started read its upstreams from it.
                for f in ["entries.json", "dnsmasq.pid", "servers.conf", "upstream.conf"] { unlink("\(dir)/\(f)") }
                unlink(dir + "/hosts")
                // The services' names stay for the next server.
                if loadServices(dir).isEmpty { for f in ["services.json", "services.hosts"] { unlink("\(dir)/\(f)") } }
            } else {
                try save(entries, dir: dir)
                if let pid = runningPid(dir) { kill(pid, SIGHUP) }
            }
        }
    }

    /// Sets (or, with no entries, drops) a service's records: its VIP, or a
    /// headless service's endpoints. The server reloads if it runs; if not, it
    /// reads them when the network's first container starts it.
    func setService(network: String, id: String, entries: [Entry]) {
        let dir = directory(network)
        guard (try? StateStore.makeDirectory(dir)) != nil else { return }
        try? StateStore(root: dir).withLock(dir + "/.lock") {
            var services = loadServices(dir)
            if entries.isEmpty { guard services.removeValue(forKey: id) != nil else { return } } else { services[id] = entries }
            let containers = load(dir)
            if services.isEmpty && containers.isEmpty {
                for f in ["services.json", "services.hosts"] { unlink("\(dir)/\(f)") }
                return
            }
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            try StateStore.writeAtomically(try e.encode(services), to: dir + "/services.json")
            // A file of their own: a container coming or going rewrites only its own list.
            let hosts = services.sorted { $0.key < $1.key }.flatMap(\.value)
                .map { "\($0.address) \($0.names.joined(separator: " "))\n" }.joined()
            try StateStore.writeAtomically(Data(hosts.utf8), to: dir + "/services.hosts")
            if let pid = runningPid(dir) { kill(pid, SIGHUP) }
        }
    }

    private func loadServices(_ dir: String) -> [String: [Entry]] {
        guard let data = FileManager.default.contents(atPath: dir + "/services.json") else { return [:] }
        return (try? JSONDecoder().decode([String: [Entry]].self, from: data)) ?? [:]
    }

    private func load(_ dir: String) -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: dir + "/entries.json") else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    private func save(_ entries: [String: Entry], dir: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try StateStore.writeAtomically(try e.encode(entries), to: dir + "/entries.json")
        let hosts = entries.values.sorted { $0.address < $1.address }.map(\.lines).joined()
        try StateStore.writeAtomically(Data(hosts.utf8), to: dir + "/hosts")
    }

    /// The server's pid if it runs (checked by pid file and command line).
    func runningPid(_ dir: String) -> Int32? {
        guard let text = FileManager.default.contents(atPath: dir + "/dnsmasq.pid").map({ String(decoding: $0, as: UTF8.self) }),
              let pid = Int32(text.filter { !$0.isWhitespace }),
              let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmd, as: UTF8.self).contains(dir + "/hosts") else { return nil }
        return pid
    }

    /// Until the stopped server is gone (its socket closed): the next start on the
    /// gateway's port 53 fails with EADDRINUSE otherwise. Through a pidfd, which
    /// polls readable the moment it exits (its parent, init, may reap it seconds
    /// later). Up to 2 s: 400 ms was once too short with 16 starts at once on 2
    /// cores (LifecycleTests, CI).
    private func waitGone(_ pid: Int32) {
        guard let start = ProcessIdentity.startTime(of: pid) else { return }
        _ = ContainerProcess(pid: pid, startTime: start).waitForExit(seconds: 2)
    }

    /// The network's domain and the cluster domain are answered here and never
    /// forwarded, so search-list lookups (ndots:5) never leave the host. The
    /// upstream servers are arguments, not a --resolv-file: dnsmasq watches a
    /// resolv file through inotify, and closing that descriptor at exit waits for
    /// an SRCU grace period (about 20 ms here), which every last container out
    /// paid in `waitGone`. Only addresses reach the command line.
    func arguments(dir: String, network: String, gateway: String, upstream: [String], domain: String) -> [String] {
        [
            "--conf-file=/dev/null", "--no-hosts", "--addn-hosts=\(dir)/hosts", "--addn-hosts=\(dir)/services.hosts", "--pid-file=\(dir)/dnsmasq.pid",
            "--servers-file=\(dir)/servers.conf",
            "--listen-address=\(gateway)", "--bind-interfaces", "--except-interface=lo",
            "--local=/\(network)/", "--local=/\(domain)/", "--domain-needed", "--user=root", "--log-facility=/dev/null",
            "--no-resolv",
        ] + upstream.filter(Self.isServerAddress).map { "--server=\($0)" }
    }

    /// An upstream as dnsmasq's --server takes it: an address, or an IPv6 one
    /// with its zone (`fe80::1%eth0`, as resolv.conf may name a link-local
    /// resolver). Nothing else: `#port`, `@interface` and `/domain/` would change
    /// what the argument means.
    static func isServerAddress(_ s: String) -> Bool {
        if Validate.isIP(s) { return true }
        let parts = s.split(separator: "%", omittingEmptySubsequences: false)
        var a6 = in6_addr()
        guard parts.count == 2, inet_pton(AF_INET6, String(parts[0]), &a6) == 1, (1...15).contains(parts[1].utf8.count) else { return false }
        return parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
