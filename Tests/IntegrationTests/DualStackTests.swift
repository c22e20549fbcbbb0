import Foundation
import Testing

/// IPv6 and dual stack (issue 14): `network create --ipv6` gives containers an
/// address and a default route of each family through the same plugins;
/// names resolve to A and AAAA; `-p` answers on the test host's IPv6 address
/// and on 127.0.0.1; `-p [::1]:…` is refused with the reason; --ip6 and the
/// bad subnets are checked before anything exists.
@Suite struct DualStackTests {
    func inspect(_ s: Sandbox, _ name: String, _ template: String) throws -> String {
        try s.minirt("inspect", "-f", template, name).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func containersGetBothFamiliesNamesAndPublishedPorts() throws {
        let s = try Sandbox()
        // The test host's own IPv6 address, on a veth of its namespace (no DAD: usable at once).
        try s.host("ip", "link", "add", "h6a", "type", "veth", "peer", "name", "h6b")
        try s.host("ip", "-6", "addr", "add", "fd00:77:99::10/64", "dev", "h6a", "nodad")
        try s.host("ip", "link", "set", "h6a", "up")
        try s.host("ip", "link", "set", "h6b", "up")

        let made = try s.minirt("network", "create", "--ipv6", "--subnet", "10.77.41.0/24", "--subnet", "fd00:77:41::/64", "ds")
        #expect(made.status == 0, "\(made.stderr)")
        let net = try s.minirt("network", "inspect", "-f", "{{.EnableIPv6}} {{json .IPAM.Config}}", "ds").stdout
        #expect(net.hasPrefix("true") && net.contains("fd00:77:41::/64") && net.contains("fd00:77:41::1"), "\(net)")

        let web = try s.minirt("run", "-d", "--name", "web", "--network", "ds", "-p", "8080:80", "busybox", "sh", "-c",
                               "mkdir /www && echo dual > /www/index.html && exec httpd -f -p 80 -h /www")
        #expect(web.status == 0, "\(web.stderr)")
        _ = try s.id(of: "web")
        _ = try s.waitForPid("web")
        let v6 = try inspect(s, "web", "{{.NetworkSettings.GlobalIPv6Address}}")
        #expect(v6.hasPrefix("fd00:77:41::"), "GlobalIPv6Address \(v6)")
        #expect(try inspect(s, "web", "{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}") == "64 fd00:77:41::1")
        #expect(try inspect(s, "web", "{{.NetworkSettings.LinkLocalIPv6Address}}").hasPrefix("fe80::"))
        let routes = try s.minirt("exec", "web", "ip", "-6", "route").stdout
        #expect(routes.contains("default via fd00:77:41::1"), "\(routes)")
        #expect(try s.minirt("exec", "web", "ip", "route").stdout.contains("default via 10.77.41.1"))

        // Between containers: by address and by name, both families.
        let c = try s.minirt("run", "--rm", "--network", "ds", "nettools", "sh", "-c",
                             "curl -6 -sS --max-time 5 http://web/ && dig +short AAAA web.ds && dig +short A web.ds && ping -6 -c 1 -W 2 web")
        #expect(c.status == 0, "\(c.stdout)\(c.stderr)")
        let lines = c.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count > 2 && lines[0] == "dual" && lines[1] == v6 && lines[2].hasPrefix("10.77.41."), "\(c.stdout)")

        // Published: on the host's IPv6 address and on 127.0.0.1.
        let over6 = try s.host("curl", "-sS", "-g", "--max-time", "5", "http://[fd00:77:99::10]:8080/")
        #expect(over6.stdout == "dual\n", "over IPv6: \(over6.stdout)\(over6.stderr)")
        let over4 = try s.host("curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080/")
        #expect(over4.stdout == "dual\n", "over 127.0.0.1: \(over4.stdout)\(over4.stderr)")
        let ports = try inspect(s, "web", "{{json .NetworkSettings.Ports}}")
        #expect(ports.contains("8080"), "\(ports)")
        // The port is held in both families: a host program cannot take it on IPv6 alone either.
        let grab = "import socket\ns = socket.socket(socket.AF_INET6)\ns.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\ns.bind(('::', 8080))"
        let taken = try s.host("python3", "-c", grab)
        #expect(taken.status != 0 && taken.stderr.contains("Address already in use"), "[::]:8080 was free: \(taken.stderr)")
        let second = try s.minirt("run", "--rm", "--network", "ds", "-p", "[::]:8080:80", "busybox", "true")
        #expect(second.status == 125 && second.stderr.contains("already allocated"), "\(second.stderr)")

        // One family each, as docker: [::] is IPv6's any address, 0.0.0.0 IPv4's.
        let split = try s.minirt("run", "-d", "--name", "split", "--network", "ds", "-p", "[::]:8090:80", "-p", "0.0.0.0:8091:80", "busybox", "sh", "-c",
                                 "mkdir /www && echo split > /www/index.html && exec httpd -f -p 80 -h /www")
        #expect(split.status == 0, "\(split.stderr)")
        _ = try s.id(of: "split")
        _ = try s.waitForPid("split")
        #expect(try s.host("curl", "-sS", "-g", "--max-time", "5", "http://[fd00:77:99::10]:8090/").stdout == "split\n")
        #expect(try s.host("curl", "-sS", "--max-time", "5", "http://127.0.0.1:8091/").stdout == "split\n")
        #expect(try s.host("curl", "-sS", "--max-time", "2", "http://127.0.0.1:8090/").status != 0, "[::] published on IPv4 too")
        #expect(try s.host("curl", "-sS", "-g", "--max-time", "2", "http://[fd00:77:99::10]:8091/").status != 0, "0.0.0.0 published on IPv6 too")

        // --ip6: as asked, and in inspect.
        let fixed = try s.minirt("run", "-d", "--name", "fixed", "--network", "ds", "--ip6", "fd00:77:41::50", "busybox", "sleep", "60")
        #expect(fixed.status == 0, "\(fixed.stderr)")
        _ = try s.id(of: "fixed")
        #expect(try inspect(s, "fixed", "{{.NetworkSettings.GlobalIPv6Address}}") == "fd00:77:41::50")

        // Refused with one line, exit 125, nothing left.
        for (args, words) in [(["-p", "[::1]:8081:80", "--network", "ds"], "::1"),
                              (["--ip6", "fd00:99::5", "--network", "ds"], "outside"),
                              (["--ip6", "fd00:77:41::1", "--network", "ds"], "gateway"),
                              (["--ip6", "fd00:77:41:0::50", "--network", "ds"], "already in use"),
                              (["--ip6", "fd00:77:41::60", "--network", "bridge"], "no IPv6 subnet"),
                              (["-p", "[fd00:77:99::10]:8083:80", "--network", "bridge"], "no IPv6 subnet")] {
            let o = try s.minirt(["run", "--rm"] + args + ["busybox", "true"])
            #expect(o.status == 125 && o.stderr.contains(words) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        for (args, words) in [(["--ipv6", "--subnet", "10.77.42.0/24", "--subnet", "fd00:77:41::/80"], "overlaps"),
                              (["--ipv6", "--subnet", "10.77.42.0/24", "--subnet", "fd00:77:43::/124"], "prefix length"),
                              (["--subnet", "10.77.42.0/24", "--subnet", "fd00:77:44::/64"], "--ipv6"),
                              (["--ipv6", "--subnet", "10.77.42.0/24", "--subnet", "fd00:77:45::/64", "--gateway", "fd00:77:46::1"], "gateway")] {
            let o = try s.minirt(["network", "create"] + args + ["bad6"])
            #expect(o.status == 1 && o.stderr.contains(words) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        #expect(try s.minirt("network", "inspect", "bad6").status != 0, "a refused network was written")

        try s.minirt("rm", "-f", "web", "fixed", "split")
        try s.minirt("network", "rm", "ds")
        try s.host("ip", "link", "del", "h6a")
        try s.finish()
    }

    @Test func ipRangeAndDefaultSubnet() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.47.0/24", "--ip-range", "10.77.47.128/25", "--ipv6", "ranged").status == 0)
        let cfg = try s.minirt("network", "inspect", "-f", "{{json .IPAM.Config}}", "ranged").stdout
        #expect(cfg.contains("fd") && cfg.contains("::/64"), "a unique local /64 by default: \(cfg)")
        #expect(try s.minirt("run", "-d", "--name", "r1", "--network", "ranged", "busybox", "sleep", "60").status == 0)
        _ = try s.id(of: "r1")
        let a = try inspect(s, "r1", "{{.NetworkSettings.IPAddress}}")
        #expect(a.hasPrefix("10.77.47.") && Int(a.split(separator: ".").last ?? "") ?? 0 >= 128, "outside --ip-range: \(a)")
        #expect(try inspect(s, "r1", "{{.NetworkSettings.GlobalIPv6Address}}").hasPrefix("fd"))
        try s.minirt("rm", "-f", "r1")
        try s.minirt("network", "rm", "ranged")
        try s.finish()
    }

    /// The default network is IPv4 unless minirt.json (docker's daemon.json keys) asks, when it is first written.
    @Test func settingsFileMakesTheDefaultNetworkDualStack() throws {
        let s = try Sandbox()
        let settings = s.root + "/.minirt.json"
        func minirt(_ args: [String]) throws -> Outcome {
            var env = s.environment
            env["MINIRT_CONFIG"] = settings
            return try Sandbox.exec(s.command.0, s.command.1 + args, env: env)
        }
        try Data(#"{"ipv6": true, "fixed-cidr-v6": "fd00:77:48::/64", "bip": "10.1.0.1/24"}"#.utf8).write(to: URL(fileURLWithPath: settings))
        let refused = try minirt(["run", "--rm", "busybox", "true"])
        #expect(refused.status == 125 && refused.stderr.contains("unknown key \"bip\"") && refused.stderr.split(separator: "\n").count == 1,
                "\(refused.stderr)")
        try Data(#"{"ipv6": true, "fixed-cidr-v6": "fd00:77:48::/64"}"#.utf8).write(to: URL(fileURLWithPath: settings))
        let o = try minirt(["run", "--rm", "busybox", "ip", "-6", "addr", "show", "eth0"])
        #expect(o.status == 0 && o.stdout.contains("fd00:77:48::"), "\(o.stdout)\(o.stderr)")
        let net = try minirt(["network", "inspect", "-f", "{{.EnableIPv6}}", "bridge"]).stdout
        #expect(net.hasPrefix("true"))
        try s.finish()
    }
}
