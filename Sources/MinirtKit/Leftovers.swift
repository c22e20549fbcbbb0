import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// What is left on the host of a container whose record cannot be read (a
/// truncated state.json) or is gone (a folder deleted by hand, a crash):
/// found by its id in what this store owns, its IPAM leases, and in the
/// kernel, its namespace pin and cgroup. `rm -f` and `system gc` release it
/// through the one release path, from a record rebuilt from these.
/// One host-local lease file: an address of a network, held by a container id.
struct Lease {
    var network: String
    var address: String
    var owner: String
    var path: String
    /// The container's interface it was given for (host-local's second line): eth0, eth1, …
    var ifName = "eth0"

    /// Seconds since host-local wrote it.
    var age: Int {
        var st = stat()
        return stat(path, &st) == 0 ? time(nil) - st.st_mtim.tv_sec : .max
    }
}

struct Leftovers {
    var id: String
    var leases: [Lease] = []
    var pin: String?
    var cgroup: Cgroup?
    var folder: Bool

    var isEmpty: Bool { leases.isEmpty && pin == nil && cgroup == nil && !folder }
    /// A container whose processes still run: gc leaves it (its lease stays taken).
    var isAlive: Bool { !(cgroup?.processes().isEmpty ?? true) }
}

extension Containers {
    /// The leases of this store's networks (its own folder and the networks'
    /// owners', see Networks.owningStateDir), from host-local's files.
    func leases() -> [Lease] {
        let fm = FileManager.default
        var found: [Lease] = []
        for dir in networks.stateDirs(own: store.root).map({ $0 + "/.ipam" }) {
            for net in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                for address in (try? fm.contentsOfDirectory(atPath: "\(dir)/\(net)")) ?? []
                where Validate.isIP(address) {
                    let path = "\(dir)/\(net)/\(address)"
                    let words = fm.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }?
                        .split(whereSeparator: \.isWhitespace).map(String.init) ?? []
                    let owner = words.first ?? ""
                    var lease = Lease(network: net, address: address, owner: owner, path: path)
                    if words.count > 1, words[1].hasPrefix("eth"), words[1].dropFirst(3).allSatisfy(\.isNumber), words[1].count <= 8 { lease.ifName = words[1] }
                    if StateStore.isID(owner) { found.append(lease) }
                }
            }
        }
        return found
    }

    /// What is left of the container named by a full id or a unique prefix of at
    /// least 12 hex digits (the pin's name), or nil when nothing is.
    func leftovers(of ref: String) -> Leftovers? {
        let lower = ref.lowercased()
        guard lower.count >= 12, lower.count <= 64, lower.allSatisfy(\.isHexDigit) else { return nil }
        var ids = Set(store.ids().filter { $0.hasPrefix(lower) })
        let leases = self.leases()
        ids.formUnion(leases.map(\.owner).filter { $0.hasPrefix(lower) })
        for dir in Cgroup(path: "/minirt").directories {
            ids.formUnion(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { StateStore.isID($0) && $0.hasPrefix(lower) })
        }
        guard ids.count == 1, let id = ids.first else { return nil }
        var l = Leftovers(id: id, folder: access(store.directory(id), F_OK) == 0)
        l.leases = leases.filter { $0.owner == id }
        let pin = NetworkNamespace.pinPath(for: id)
        if access(pin, F_OK) == 0 { l.pin = pin }
        let cg = Cgroup(path: "/minirt/\(id)")
        if cg.exists() { l.cgroup = cg }
        return l.isEmpty ? nil : l
    }

    /// Kills what still runs in its cgroup, then releases each attachment with
    /// a record rebuilt from the lease (DEL with the address as prevResult, so
    /// the firewall plugin finds its rules), unpins, removes the cgroup, the
    /// folder and any name pointing at it. Returns warnings.
    func release(_ l: Leftovers) -> [String] {
        var warnings: [String] = []
        if let cg = l.cgroup {
            for _ in 0..<200 where !cg.processes().isEmpty {
                for pid in cg.processes() { Glibc.kill(pid, SIGKILL) }
                usleep(20_000)
            }
        }
        var base = ContainerRecord(id: l.id, name: String(l.id.prefix(12)), created: .now(), image: "", rootfs: "",
                                   path: "", args: [], config: .init(hostname: "", image: ""), hostConfig: .init(networkMode: ""))
        var security = ContainerRecord.Security()
        security.cgroupsPath = "/minirt/\(l.id)"
        base.hostConfig.security = security
        // One attachment per network and interface: a dual-stack one holds a lease of each family.
        var groups: [String: [Lease]] = [:]
        for lease in l.leases { groups["\(lease.network)/\(lease.ifName)", default: []].append(lease) }
        var attachments = groups.keys.sorted().compactMap { key -> NetworkState? in
            let leases = groups[key]!
            let lease = leases[0]
            guard let list = try? networks.load(lease.network) else {
                warnings.append("network \(lease.network) of lease \(lease.address) has no conflist any more: the lease is dropped, its rules are left")
                return nil
            }
            var net = NetworkState(network: list.name, netnsPath: l.pin ?? NetworkNamespace.pinPath(for: l.id), config: list.raw.text())
            net.ifName = lease.ifName
            net.pinned = l.pin != nil
            net.addStarted = true
            net.dnsRegistered = true
            let ips = leases.map { lease -> JSONValue in
                let v6 = lease.address.contains(":")
                let prefix = v6 ? Networks.subnet6(of: list)?.prefix ?? 128 : Networks.subnet(of: list)?.prefix ?? 32
                var ip: [String: JSONValue] = ["address": .string("\(lease.address)/\(prefix)"), "interface": .int(0)]
                if let gw = v6 ? Networks.gateway6(of: list) : Networks.gateway(of: list) { ip["gateway"] = .string(gw) }
                return .object(ip)
            }
            net.result = JSONValue.object([
                "cniVersion": .string(list.cniVersion),
                "interfaces": .array([.object(["name": .string(net.ifName), "sandbox": .string(net.netnsPath)])]),
                "ips": .array(ips),
            ]).text()
            // portmap's DEL does nothing without mappings, and cleans by container id
            // with any: one placeholder makes it remove whatever DNAT the id has.
            net.ports = [PortBinding(hostIP: "", hostPort: 1, containerPort: 1, proto: "tcp")]
            return net
        }
        if attachments.isEmpty, l.pin != nil {
            // No lease (none, or another network kind): still unpin.
            var net = NetworkState(network: "", netnsPath: l.pin!, config: "{}")
            net.pinned = true
            attachments.append(net)
        }
        if !attachments.isEmpty {
            // One release for all of them, the last interface first, as rm does.
            var r = base
            r.attachments = attachments.sorted { $0.ifName.numericallyPrecedes($1.ifName) }
            do { warnings += try release(r, ending: .keep, force: true).warnings } catch { warnings.append("\(error)") }
            for net in attachments where !net.network.isEmpty { attacher.dns(for: net).unregister(network: net.network, id: l.id) }
        }
        if attachments.isEmpty, let cg = l.cgroup, cg.exists(), !cg.remove() {
            warnings.append("its cgroup \(cg.path) could not be removed")
        }
        for lease in l.leases { unlink(lease.path) }
        if l.folder { try? store.remove(l.id) }
        store.freeNames(of: l.id)
        return warnings
    }
}
