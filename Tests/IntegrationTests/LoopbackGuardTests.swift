import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// moby#45610 / CVE-2020-8558: a neighbour on the host's link that routes
/// 127.0.0.1 via the host must not reach a port published on 127.0.0.1.
@Suite struct LoopbackGuardTests {
    /// The test's host (its network namespace) and a neighbour namespace on one
    /// link, the neighbour routing 127.0.0.1 through the host as an attacker would.
    static func neighbour(_ s: Sandbox) throws -> String {
        let n = "\(s.netns!)-nb"
        _ = try Sandbox.exec("/usr/sbin/ip", ["netns", "add", n])
        try s.host("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1", "netns", n)
        try s.host("ip", "addr", "add", "10.252.0.1/24", "dev", "lan0")
        try s.host("ip", "link", "set", "lan0", "up")
        for args in [["addr", "add", "10.252.0.2/24", "dev", "lan1"], ["link", "set", "lan1", "up"],
                     ["route", "add", "127.0.0.1/32", "via", "10.252.0.1", "dev", "lan1"]] {
            let o = try Sandbox.exec("/usr/sbin/ip", ["-n", n] + args)
            try #require(o.status == 0, "ip \(args): \(o.stderr)")
        }
        // (Its lo stays down, so no local route claims 127.0.0.1 there.)
        // The neighbour accepts loopback-sourced answers on its link (it wants them).
        for conf in ["all", "lan1"] {
            _ = try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", n, "/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/\(conf)/route_localnet"])
        }
        return n
    }

    @Test func neighbourCannotReachALoopbackPublishedPort() throws {
        let s = try Sandbox()
        let n = try Self.neighbour(s)
        defer { _ = try? Sandbox.exec("/usr/sbin/ip", ["netns", "delete", n]) }
        let web = try s.start(["run", "--name", "lo-web", "-p", "127.0.0.1:8090:80", "-p", "8091:80", "busybox", "sh", "-c",
                               "mkdir -p /www && echo secret > /www/index.html && exec httpd -f -p 80 -h /www"])
        _ = try s.waitForPid("lo-web")
        _ = try s.id(of: "lo-web")
        #expect(try s.fetch("http://127.0.0.1:8090/") == "secret\n", "the host itself reaches it on 127.0.0.1")
        // The path itself works: the neighbour reaches the port published on every address.
        let open = try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", n, "curl", "-s", "--max-time", "3", "http://10.252.0.1:8091/"])
        #expect(open.stdout == "secret\n", "neighbour to the host's address: \(open.status) \(open.stderr)")
        let attack = try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", n, "curl", "-s", "--max-time", "3", "http://127.0.0.1:8090/"])
        #expect(attack.status != 0 && attack.stdout.isEmpty, "the neighbour got an answer through 127.0.0.1: \(attack.stdout)")
        // It is minirt's own rule that dropped it, counted in its table.
        let table = try s.host("nft", "list", "table", "inet", "minirt").stdout
        #expect(table.contains("ip daddr 127.0.0.0/8") && table.contains("priority raw"), "\(table)")
        #expect(!table.contains("packets 0 bytes 0 drop comment \"minirt: loopback is reachable only from lo (published"), "\(table)")
        try s.minirt("rm", "-f", "lo-web")
        web.waitUntilExit()
        // The last published port gone, the table goes too.
        #expect(try s.host("nft", "list", "table", "inet", "minirt").status != 0)
        try s.host("ip", "link", "delete", "lan0")
        try s.finish()
    }
}

extension LoopbackGuardTests {
    /// Node ports answer on 127.0.0.1 (route_localnet on the bridge, as portmap
    /// needs too): only the guard keeps the neighbour from using that.
    @Test func neighbourCannotReachANodePortThroughLoopback() throws {
        let s = try Sandbox()
        let n = try Self.neighbour(s)
        defer { _ = try? Sandbox.exec("/usr/sbin/ip", ["netns", "delete", n]) }
        #expect(try s.minirt("run", "-d", "--name", "np-web", "-l", "app=np", "busybox", "sh", "-c",
                             "mkdir -p /www && echo secret > /www/index.html && exec httpd -f -p 80 -h /www").status == 0)
        _ = try s.id(of: "np-web")
        let made = try s.minirt("service", "create", "np", "--port", "80", "--selector", "app=np", "--node-port", "30081")
        try #require(made.status == 0, "\(made.stderr)")
        #expect(try s.fetch("http://127.0.0.1:30081/") == "secret\n", "the host reaches the node port on 127.0.0.1")
        let open = try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", n, "curl", "-s", "--max-time", "3", "http://10.252.0.1:30081/"])
        #expect(open.stdout == "secret\n", "neighbour to the host's address: \(open.status) \(open.stderr)")
        let attack = try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", n, "curl", "-s", "--max-time", "3", "http://127.0.0.1:30081/"])
        #expect(attack.status != 0 && attack.stdout.isEmpty, "the neighbour got the node port through 127.0.0.1: \(attack.stdout)")
        let table = try s.host("nft", "list", "table", "inet", "minirt").stdout
        #expect(!table.contains("packets 0 bytes 0 drop comment \"minirt: loopback is reachable only from lo (published"), "the guard dropped it: \(table)")
        try s.minirt("rm", "-f", "np-web")
        try s.minirt("service", "rm", "np")
        #expect(try s.host("nft", "list", "table", "inet", "minirt").status != 0)
        try s.host("ip", "link", "delete", "lan0")
        try s.finish()
    }
}
