import Testing
import FoundationEssentials
@testable import MinirtKit
import MinirtCNI
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// The pure parts of several networks and dual stack (issue 14): IPv6
/// prefixes, the conflist a second network is added with, the records'
/// attachment list, the hosts and DNS files.
@Suite struct IPv6SubnetTests {
    @Test func parsesFormatsAndCompares() throws {
        let s = try IPv6Subnet("fd00:77:41::/64")
        #expect(s.description == "fd00:77:41::/64")
        #expect(s.firstHost == "fd00:77:41::1")
        #expect(s.lastHost == "fd00:77:41:0:ffff:ffff:ffff:ffff")
        #expect(s.contains("fd00:77:41::abcd") && !s.contains("fd00:77:42::1") && !s.contains("10.0.0.1"))
        #expect(s.overlaps(try IPv6Subnet("fd00:77::/32")))
        #expect(try !s.overlaps(IPv6Subnet("fd00:77:42::/64")))
        let small = try IPv6Subnet("fd00:1::100/120")
        #expect(small.lastHost == "fd00:1::1ff" && small.contains("fd00:1::1ff") && !small.contains("fd00:1::200"))
        #expect(IPv6Subnet.canonical("FD00:0:0::0001") == "fd00::1" && IPv6Subnet.canonical("fe80::1%eth0") == nil)
    }

    @Test func badPrefixesSayWhy() {
        for (cidr, why) in [("fd00::/124", "between /16 and /120"), ("fd00::1/64", "host bits are set"), ("10.0.0.0/24", "not an IPv6"),
                            ("fd00::", "IPv6 CIDR"), ("fd00::/8", "between /16")] {
            do { _ = try IPv6Subnet(cidr); Issue.record("\(cidr) was accepted") } catch {
                #expect("\(error)".contains(why), "\(cidr): \(error)")
            }
        }
    }

    @Test func uniqueLocalAndLinkLocal() {
        let u = IPv6Subnet.randomUniqueLocal()
        #expect(u.prefix == 64 && u.high >> 56 == 0xfd && u.low == 0)
        // The kernel's EUI-64: the U/L bit flipped, ff:fe in the middle.
        #expect(IPv6Subnet.linkLocal(mac: "02:42:ac:11:00:02") == "fe80::42:acff:fe11:2")
        #expect(IPv6Subnet.linkLocal(mac: "garbage").isEmpty)
    }
}

@Suite struct MultiNetworkPlanTests {
    func list(_ text: String) throws -> NetworkConfigList { try NetworkConfigList(data: Data(text.utf8), source: "test") }

    @Test func dualStackConflistHasTwoRangesAndBothDefaultRoutes() throws {
        let v6 = Networks.AddressRange(subnet: "fd00:7::/64", gateway: "fd00:7::1", start: "fd00:7::100", end: "fd00:7::1ff")
        let doc = Networks.bridgeConfig(name: "ds", bridge: "mr-ds", subnet: try IPv4Subnet("10.7.0.0/24"), gateway: "10.7.0.1",
                                        isInternal: false, ipamDir: "/x", range4: ("10.7.0.128", "10.7.0.254"), ipv6: v6)
        let l = try list(doc.text())
        #expect(Networks.subnet(of: l)?.description == "10.7.0.0/24")
        #expect(Networks.subnet6(of: l)?.description == "fd00:7::/64" && Networks.gateway6(of: l) == "fd00:7::1")
        let text = doc.text()
        #expect(text.contains("\"::/0\"") && text.contains("\"0.0.0.0/0\"") && text.contains("\"rangeStart\":\"10.7.0.128\""))
        #expect(Networks.hasDefaultRoute(l))
        // A second network is added without the default routes and default gateway.
        let second = Networks.withoutDefaultRoute(l)
        #expect(!Networks.hasDefaultRoute(second) && Networks.subnet6(of: second) != nil, "\(second.raw.text())")
        #expect(second.plugins.count == l.plugins.count && second.name == "ds")
    }

    @Test func ipRangeStaysInsideTheSubnet() throws {
        let s = try IPv4Subnet("10.8.0.0/24")
        let upper = try Networks.range4("10.8.0.128/25", in: s), lower = try Networks.range4("10.8.0.0/26", in: s)
        #expect(upper.0 == "10.8.0.128" && upper.1 == "10.8.0.254")
        #expect(lower.0 == "10.8.0.1" && lower.1 == "10.8.0.63")
        #expect(throws: NetworkError.self) { try Networks.range4("10.9.0.0/25", in: s) }
        #expect(throws: NetworkError.self) { try Networks.range4("10.8.0.0/23", in: s) }
    }

    @Test func attachmentsSplitIntoTheFirstAndTheRest() {
        var r = ContainerRecord(id: String(repeating: "a", count: 64), name: "c", created: .now(), image: "i", rootfs: "/",
                                path: "sh", args: [], config: .init(hostname: "h", image: "i"), hostConfig: .init(networkMode: "a"))
        #expect(r.attachments.isEmpty)
        r.attachments = [NetworkState(network: "a", netnsPath: "/p", config: "{}"), NetworkState(network: "b", netnsPath: "/p", config: "{}")]
        #expect(r.network?.network == "a" && r.moreNetworks?.map(\.network) == ["b"] && r.attachment(on: "b") != nil)
        r.attachments.removeFirst()
        #expect(r.network?.network == "b" && r.moreNetworks == nil)
        r.attachments = []
        #expect(r.network == nil)
        #expect(NetworkAttacher.freeInterfaceName(r) == "eth0")
        var e1 = NetworkState(network: "x", netnsPath: "/p", config: "{}")
        e1.ifName = "eth1"
        r.attachments = [e1]
        #expect(NetworkAttacher.freeInterfaceName(r) == "eth0")
    }

    @Test func olderRecordsJoinTheirNetworkMode() throws {
        var h = ContainerRecord.HostConfig(networkMode: "web")
        h.networkAliases = ["w"]
        h.staticIP = "10.1.0.5"
        #expect(h.endpoints == [.init(network: "web", aliases: ["w"], ip: "10.1.0.5")])
        for mode in ["none", "host", "container:abc"] { #expect(ContainerRecord.HostConfig(networkMode: mode).endpoints.isEmpty) }
        h.networks = []
        #expect(h.endpoints.isEmpty, "disconnected from all: none at the next start")
        // A record written before `networks` existed decodes (the key is optional).
        let old = try JSONEncoder().encode(ContainerRecord.HostConfig(networkMode: "bridge"))
        let decoded = try JSONDecoder().decode(ContainerRecord.HostConfig.self, from: old)
        #expect(decoded.networks == nil && decoded.endpoints.map(\.network) == ["bridge"])
    }

    @Test func hostsAndDNSCarryEveryAddress() {
        let h = DNSFiles.hosts(hostname: "h1", name: "web", addresses: ["10.1.0.2", "10.2.0.2", "fd00::2"], extraHosts: [])
        for a in ["10.1.0.2\th1 web", "10.2.0.2\th1 web", "fd00::2\th1 web"] { #expect(h.contains(a), "\(h)") }
        let entry = NetworkDNS.Entry(address: "10.1.0.2", names: ["web", "web.a", "10-1-0-2.a.pod.cluster.local"], address6: "fd00::2")
        #expect(entry.lines == "10.1.0.2 web web.a 10-1-0-2.a.pod.cluster.local\nfd00::2 web web.a\n")
        let r = DNSFiles.resolvConf(host: "", upstream: nil, dns: [], search: [], options: [], keepLoopback: false,
                                    networkServer: "10.1.0.1", networkDomain: "a", otherNetworks: ["b", "a"])
        #expect(r.contains("search a.svc.cluster.local svc.cluster.local cluster.local a b\n"), "\(r)")
        #expect(r.contains("nameserver 10.1.0.1\n"))
    }

    @Test func forwardsReachTheServersFileOnlyWhenWellFormed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minirt-fwd-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dns = NetworkDNS(root: dir)
        try StateStore.makeDirectory(dns.directory("a"))
        typealias F = NetworkDNS.Forward
        dns.forward(network: "a", [F(domain: "b", server: "10.2.0.1"), F(domain: "b.svc.cluster.local", server: "10.2.0.1"),
                                   F(domain: "evil/\nserver=/#/6.6.6.6", server: "10.2.0.1"), F(domain: "c", server: "not-an-ip\n")])
        dns.forward(network: "a", [F(domain: "b", server: "10.2.0.9")])
        let text = String(decoding: FileManager.default.contents(atPath: dns.directory("a") + "/servers.conf") ?? Data(), as: UTF8.self)
        #expect(text == "server=/b.svc.cluster.local/10.2.0.1\nserver=/b/10.2.0.9\n", "\(text)")
    }

    /// Upstreams reach dnsmasq's command line as --server only when they are
    /// addresses (a zone allowed on IPv6), never as a resolv file it would watch.
    @Test func upstreamsBecomeServerArgumentsOnlyWhenAddresses() {
        let args = NetworkDNS(root: "/r").arguments(dir: "/r/a", network: "a", gateway: "10.1.0.1", upstream: [
            "10.0.0.2", "fd00::53", "fe80::1%eth0", "1.2.3.4#5353", "1.2.3.4@lo", "/evil/6.6.6.6", "8.8.8.8\nserver=x",
            "fe80::1%", "fe80::1%eth/0", "fe80::1%sixteen-chars-ab", "10.0.0.3%eth0",
        ], domain: "cluster.local")
        #expect(args.filter { $0.hasPrefix("--server=") } == ["--server=10.0.0.2", "--server=fd00::53", "--server=fe80::1%eth0"])
        #expect(args.contains("--no-resolv") && !args.contains { $0.hasPrefix("--resolv-file") })
        let none = NetworkDNS(root: "/r").arguments(dir: "/r/a", network: "a", gateway: "10.1.0.1", upstream: [], domain: "cluster.local")
        #expect(none.contains("--no-resolv") && !none.contains { $0.hasPrefix("--server=") })
    }
}

/// `--userns auto`'s pools: /etc/subuid-style lines of the `minirt` user, 65536 ids a slot.
@Suite struct UserNamespacePoolTests {
    @Test func rangesComeFromTheMinirtEntries() {
        let text = "alice:100000:65536\nminirt:300000:131072\nminirt:bad:1\nminirt:4294900000:200000\nminirt:500000:1000\n"
        let r = UserNamespacePool.ranges(text)
        #expect(r.count == 1 && r[0].start == 300000 && r[0].count == 131072, "\(r)")
        let pool = UserNamespacePool(folder: "/nonexistent", subuid: text, subgid: "minirt:700000:65536\n")
        #expect(pool.slot(0) == .init(uid: 300000, gid: 700000, size: 65536))
        #expect(pool.slot(1) == nil, "the gid pool has one slot only")
        let fallback = UserNamespacePool(folder: "/nonexistent", subuid: "", subgid: "")
        #expect(fallback.slot(1) == .init(uid: 2_000_065_536, gid: 2_000_065_536, size: 65536))
        #expect(fallback.slot(4095) != nil && fallback.slot(4096) == nil)
    }
}
