import Foundation
import Testing

/// Several networks per container (issue 14): `run --network a --network b`
/// gives eth0 and eth1 with one default route; names of both networks
/// resolve (the first network's server forwards the second's domain); the
/// isolation between the networks holds for everyone else; `network connect`
/// and `disconnect` change a running container's interfaces, names, hosts
/// file and leases, and persist for later starts.
@Suite struct MultiNetworkTests {
    func networks(_ s: Sandbox, _ name: String) throws -> [String: [String: Any]] {
        let text = try s.minirt("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [String: Any]]) ?? [:]
    }

    func address(_ s: Sandbox, _ name: String, on network: String) throws -> String {
        try networks(s, name)[network]?["IPAddress"] as? String ?? ""
    }

    func leases(_ s: Sandbox, _ network: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(s.root)/.ipam/\(network)")) ?? [])
            .filter { $0.first?.isNumber == true && !$0.hasPrefix("last_reserved") }
    }

    @Test func containerOnTwoNetworksReachesBothAndOthersStayApart() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.31.0/24", "mn-a").status == 0)
        #expect(try s.minirt("network", "create", "--subnet", "10.77.32.0/24", "mn-b").status == 0)
        for (name, net) in [("only-a", "mn-a"), ("only-b", "mn-b")] {
            #expect(try s.minirt("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "300").status == 0)
            _ = try s.waitForPid(name)
        }
        let run = try s.minirt("run", "-d", "--name", "both", "--network", "mn-a", "--network", "mn-b", "busybox", "sleep", "300")
        #expect(run.status == 0, "\(run.stderr)")
        let bothID = try s.id(of: "both")
        _ = try s.id(of: "only-a"); _ = try s.id(of: "only-b")
        _ = try s.waitForPid("both")

        // eth0 on mn-a with the default route, eth1 on mn-b without one.
        let addrs = try s.minirt("exec", "both", "ip", "-o", "-4", "addr").stdout
        #expect(addrs.contains("eth0") && addrs.contains("10.77.31."), "\(addrs)")
        #expect(addrs.contains("eth1") && addrs.contains("10.77.32."), "\(addrs)")
        let routes = try s.minirt("exec", "both", "ip", "route").stdout
        #expect(routes.split(separator: "\n").filter { $0.hasPrefix("default") } == ["default via 10.77.31.1 dev eth0 "], "\(routes)")
        let a = try address(s, "both", on: "mn-a"), b = try address(s, "both", on: "mn-b")
        #expect(a.hasPrefix("10.77.31.") && b.hasPrefix("10.77.32."), "inspect: \(a) \(b)")
        let hosts = try s.minirt("exec", "both", "cat", "/etc/hosts").stdout
        #expect(hosts.contains(a) && hosts.contains(b), "\(hosts)")

        // Names of both networks, short and qualified, through the first network's server.
        for target in ["only-a", "only-b", "only-b.mn-b", "only-a.mn-a"] {
            let ping = try s.minirt("exec", "both", "ping", "-c", "1", "-W", "2", target)
            #expect(ping.status == 0, "both cannot reach \(target): \(ping.stdout)\(ping.stderr)")
        }
        // The networks stay isolated for containers on one of them.
        let onlyB = try address(s, "only-b", on: "mn-b")
        #expect(try s.minirt("exec", "only-a", "ping", "-c", "1", "-W", "1", onlyB).status != 0, "mn-a reached mn-b")

        // inspect lists one entry per network; network inspect lists it on both.
        let nets = try networks(s, "both")
        #expect(Set(nets.keys) == ["mn-a", "mn-b"], "\(nets)")
        #expect(nets["mn-b"]?["InterfaceName"] as? String == "eth1")
        for n in ["mn-a", "mn-b"] {
            #expect(try s.minirt("network", "inspect", n).stdout.contains("\"both\""))
        }
        #expect(try s.minirt("ls", "-q", "--filter", "network=mn-b").lines.count == 2)

        // A restart gets both networks again.
        #expect(try s.minirt("restart", "-t", "0", "both").status == 0)
        _ = try s.waitForPid("both")
        let again = try s.minirt("exec", "both", "ip", "-o", "-4", "addr").stdout
        #expect(again.contains("eth0") && again.contains("eth1"), "after restart: \(again)")
        #expect(leases(s, "mn-a").count == 2 && leases(s, "mn-b").count == 2, "leases: \(leases(s, "mn-a")) \(leases(s, "mn-b"))")

        // kill -9 of the init: the supervisor's release takes both attachments.
        let pid = try s.waitForPid("both")
        kill(pid, SIGKILL)
        var exited = false
        for _ in 0..<250 where !exited {
            exited = try s.minirt("inspect", "-f", "{{.State.Status}}", "both").stdout.hasPrefix("exited")
            if !exited { usleep(20_000) }
        }
        #expect(exited)
        #expect(leases(s, "mn-a").count == 1 && leases(s, "mn-b").count == 1, "kill -9 left leases")
        #expect(!FileManager.default.fileExists(atPath: "/var/run/netns/minirt-\(bothID.prefix(12))"))
        try s.minirt("rm", "-f", "both", "only-a", "only-b")
        try s.minirt("network", "rm", "mn-a", "mn-b")
        try s.finish()
    }

    @Test func connectAndDisconnectARunningContainer() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.33.0/24", "cn-a").status == 0)
        #expect(try s.minirt("network", "create", "--subnet", "10.77.34.0/24", "cn-b").status == 0)
        #expect(try s.minirt("run", "-d", "--name", "server", "--network", "cn-b", "busybox", "sleep", "300").status == 0)
        #expect(try s.minirt("run", "-d", "--name", "client", "--network", "cn-a", "busybox", "sleep", "300").status == 0)
        _ = try s.id(of: "server"); _ = try s.id(of: "client")
        _ = try s.waitForPid("server"); _ = try s.waitForPid("client")
        #expect(try s.minirt("exec", "client", "ping", "-c", "1", "-W", "1", "server").status != 0)

        let c = try s.minirt("network", "connect", "--alias", "db", "--ip", "10.77.34.50", "cn-b", "client")
        #expect(c.status == 0, "\(c.stderr)")
        let addrs = try s.minirt("exec", "client", "ip", "-o", "-4", "addr").stdout
        #expect(addrs.contains("eth1") && addrs.contains("10.77.34.50/24"), "\(addrs)")
        #expect(try s.minirt("exec", "client", "ping", "-c", "1", "-W", "2", "server").status == 0, "connected client cannot reach server by name")
        #expect(try s.minirt("exec", "server", "ping", "-c", "1", "-W", "2", "db").status == 0, "the alias on cn-b does not resolve")
        #expect(try s.minirt("exec", "client", "cat", "/etc/hosts").stdout.contains("10.77.34.50"))
        #expect(leases(s, "cn-b").contains("10.77.34.50"))
        let events = try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "type=network").stdout
        #expect(events.contains("connect") && events.contains("cn-b"), "\(events)")

        // Bad input: one line, exit 1, nothing changed.
        for (args, words) in [(["network", "connect", "cn-b", "client"], "already exists"),
                              (["network", "connect", "nope", "client"], "unknown network"),
                              (["network", "disconnect", "cn-b", "server-x"], "no such container"),
                              (["network", "connect", "--ip", "10.77.99.9", "cn-a", "server"], "outside")] {
            let o = try s.minirt(args)
            #expect(o.status == 1 && o.stderr.lowercased().contains(words) && o.stderr.split(separator: "\n").count == 1,
                    "\(args): \(o.status) \(o.stderr)")
        }
        #expect(try s.minirt("run", "-d", "--name", "lonely", "--network", "none", "busybox", "sleep", "300").status == 0)
        _ = try s.id(of: "lonely")
        let none = try s.minirt("network", "connect", "cn-a", "lonely")
        #expect(none.status == 1 && none.stderr.contains("private (none) mode"), "\(none.stderr)")
        for args in [["--network", "cn-a", "--network", "cn-a"], ["--network", "none", "--network", "cn-a"], ["--network", "cn-a", "--network", "nope"]] {
            let o = try s.minirt(["run", "--rm"] + args + ["busybox", "true"])
            #expect(o.status == 125 && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }

        // Disconnect: the interface, the name and the lease go at once.
        #expect(try s.minirt("network", "disconnect", "cn-b", "client").status == 0)
        let after = try s.minirt("exec", "client", "ip", "-o", "-4", "addr").stdout
        #expect(!after.contains("eth1"), "\(after)")
        #expect(!leases(s, "cn-b").contains("10.77.34.50"))
        #expect(try s.minirt("exec", "server", "ping", "-c", "1", "-W", "1", "db").status != 0, "the alias outlived disconnect")
        let again = try s.minirt("network", "disconnect", "cn-b", "client")
        #expect(again.status == 1 && again.stderr.contains("is not connected"), "\(again.stderr)")

        // Disconnecting the first (and last) network of a running container is allowed, as in docker;
        // connect gives it one again, with the default route.
        #expect(try s.minirt("network", "disconnect", "cn-a", "client").status == 0)
        #expect(!(try s.minirt("exec", "client", "ip", "-o", "-4", "addr").stdout.contains("eth")))
        #expect(try s.minirt("network", "connect", "cn-b", "client").status == 0)
        let back = try s.minirt("exec", "client", "ip", "route").stdout
        #expect(back.contains("default via 10.77.34.1 dev eth0"), "\(back)")

        // A stopped container: connect is recorded and happens at the next start.
        #expect(try s.minirt("stop", "-t", "0", "server").status == 0)
        #expect(try s.minirt("network", "connect", "cn-a", "server").status == 0)
        #expect(try s.minirt("start", "server").status == 0)
        _ = try s.waitForPid("server")
        let started = try s.minirt("exec", "server", "ip", "-o", "-4", "addr").stdout
        #expect(started.contains("10.77.34.") && started.contains("10.77.33."), "\(started)")

        // docker's long form: settings per network.
        let long = try s.minirt("run", "-d", "--name", "long", "--network", "name=cn-a,alias=front",
                                "--network", "name=cn-b,ip=10.77.34.60,alias=back", "busybox", "sleep", "300")
        #expect(long.status == 0, "\(long.stderr)")
        _ = try s.id(of: "long")
        #expect(try address(s, "long", on: "cn-b") == "10.77.34.60")
        #expect(try s.minirt("exec", "server", "ping", "-c", "1", "-W", "2", "back").status == 0, "the per-network alias does not resolve")
        for bad in ["name=cn-a,color=red", "alias=x", "name=none,alias=x"] {
            let o = try s.minirt("run", "--rm", "--network", bad, "busybox", "true")
            #expect(o.status == 125 && o.stderr.split(separator: "\n").count == 1, "\(bad): \(o.stderr)")
        }

        try s.minirt("rm", "-f", "server", "client", "lonely", "long")
        try s.minirt("network", "rm", "cn-a", "cn-b")
        try s.finish()
    }

    /// A crash that took the state folder: gc finds the container by its leases
    /// (one per family on a dual-stack network, one per interface) and releases
    /// every attachment with the interface each lease names.
    @Test func gcReleasesEveryAttachmentOfALostContainer() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--ipv6", "--subnet", "10.77.35.0/24", "--subnet", "fd00:77:35::/64", "gc-a").status == 0)
        #expect(try s.minirt("network", "create", "--subnet", "10.77.36.0/24", "gc-b").status == 0)
        #expect(try s.minirt("run", "-d", "--name", "lost", "--network", "gc-a", "--network", "gc-b", "-p", "8098:80",
                             "busybox", "sleep", "300").status == 0)
        let id = try s.id(of: "lost")
        let pid = try s.waitForPid("lost")
        let supervisor = Int32(try s.minirt("inspect", "-f", "{{.State.SupervisorPid}}", "lost").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        func owned() -> [String] {
            ["gc-a", "gc-b"].flatMap { net in
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(s.root)/.ipam/\(net)")) ?? []).filter { f in
                    (try? String(contentsOfFile: "\(s.root)/.ipam/\(net)/\(f)", encoding: .utf8))?.hasPrefix(id) == true
                }.map { "\(net)/\($0)" }
            }
        }
        #expect(owned().count == 3, "two leases on gc-a (both families), one on gc-b: \(owned())")
        try FileManager.default.removeItem(atPath: "\(s.root)/\(id)")
        if supervisor > 0 { kill(supervisor, SIGKILL) }
        kill(pid, SIGKILL)
        for _ in 0..<250 where kill(pid, 0) == 0 { usleep(20_000) }
        // A fresh lease with a pin is a start under way for gc: age them past its minute.
        for path in owned() {
            var times = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
            utimes("\(s.root)/.ipam/\(path)", &times)
        }
        let gc = try s.minirt("system", "gc")
        #expect(gc.stdout.contains("released what container \(id.prefix(12)) left"), "\(gc.stdout)\(gc.stderr)")
        #expect(owned().isEmpty, "leases left: \(owned())")
        #expect(access("/var/run/netns/minirt-\(id.prefix(12))", F_OK) != 0, "the pin stayed")
        try s.minirt("network", "rm", "gc-a", "gc-b")
        try s.finish()
    }
}
