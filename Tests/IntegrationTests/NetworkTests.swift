import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bridge networking through the real CNI plugins, each test in a network
/// namespace of its own that plays the host. Traffic goes only to 127.0.0.1
/// and to addresses of containers and namespaces the test created.
@Suite struct NetworkTests {
    /// A busybox httpd serving `text`, started in the background.
    func startWeb(_ s: Sandbox, name: String, text: String, extra: [String] = []) throws -> Child {
        try s.start(["run", "--name", name] + extra + ["busybox", "sh", "-c",
                     "mkdir -p /www && echo \(text) > /www/index.html && exec httpd -f -p 80 -h /www"])
    }

    func fetch(_ s: Sandbox, _ url: String) throws -> String { try s.fetch(url) }

    @Test func publishedPortAnswersOnLoopbackAndContainerAddress() throws {
        let s = try Sandbox()
        let p = try startWeb(s, name: "web", text: "hello-web", extra: ["-p", "8080:80"])
        _ = try s.waitForPid("web")
        _ = try s.id(of: "web")
        #expect(try fetch(s, "http://127.0.0.1:8080/") == "hello-web\n")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ip.hasPrefix("10.99."), "address from the default subnet: \(ip)")
        #expect(try fetch(s, "http://\(ip)/") == "hello-web\n")
        #expect(try s.minirt("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n")
        #expect(try s.minirt("port", "web", "80").stdout == "0.0.0.0:8080\n")
        #expect(try s.minirt("ls").stdout.contains("0.0.0.0:8080->80/tcp"))

        // inspect shows the plumbing: netns pin, veth, bridge, ports.
        let settings = try s.minirt("inspect", "-f", "{{json .NetworkSettings}}", "web").stdout
        let ns = try JSONSerialization.jsonObject(with: Data(settings.utf8)) as? [String: Any] ?? [:]
        #expect(ns["Bridge"] as? String == "minirt0")
        #expect((ns["SandboxKey"] as? String)?.hasPrefix("/var/run/netns/minirt-") == true)
        #expect((ns["HostInterface"] as? String)?.hasPrefix("veth") == true)
        #expect((ns["Gateway"] as? String) == "10.99.0.1")
        let ports = ns["Ports"] as? [String: [[String: String]]]
        #expect(ports?["80/tcp"]?.first?["HostPort"] == "8080")
        // `ip netns` sees the pinned namespace, as the lessons show.
        let pin = (ns["SandboxKey"] as? String ?? "").split(separator: "/").last.map(String.init) ?? ""
        #expect(try Sandbox.exec("/usr/sbin/ip", ["netns", "list"]).stdout.contains(pin))
        #expect(try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", pin, "ip", "-o", "-4", "addr", "show", "eth0"]).stdout.contains(ip))

        try s.minirt("rm", "-f", "web")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func containersReachEachOtherAndThePublishedPortThroughTheHost() throws {
        let s = try Sandbox()
        let p = try startWeb(s, name: "web", text: "via-host", extra: ["-p", "8081:80"])
        _ = try s.waitForPid("web")
        _ = try s.id(of: "web")
        #expect(try fetch(s, "http://127.0.0.1:8081/") == "via-host\n")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Another container: by address, and hairpin through the host's published port (gateway address).
        let o = try s.minirt("run", "--rm", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                             "ping -c 1 -W 2 \(ip) >/dev/null && echo ping-ok; timeout 5 wget -qO- http://\(ip)/; timeout 5 wget -qO- http://gw:8081/")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout == "ping-ok\nvia-host\nvia-host\n")
        try s.minirt("rm", "-f", "web")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func containerReachesItsOwnPublishedPort() throws {
        let s = try Sandbox()
        // hairpinMode: the packet leaves through the container's veth and comes back on it.
        let o = try s.minirt("run", "--rm", "-p", "8082:80", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                             "mkdir /www && echo self > /www/index.html && httpd -p 80 -h /www && timeout 5 wget -qO- http://gw:8082/")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout == "self\n")
        try s.finish()
    }

    @Test func loopbackBoundPortGetsAFreePortAndAnswersOnlyThere() throws {
        let s = try Sandbox()
        // A second address of this test's "host", to show what a 127.0.0.1 binding refuses.
        try s.host("ip", "addr", "add", "10.250.0.1/32", "dev", "lo")
        let p = try startWeb(s, name: "local", text: "local-only", extra: ["-p", "127.0.0.1::80"])
        _ = try s.waitForPid("local")
        _ = try s.id(of: "local")
        let mapping = try s.minirt("port", "local", "80/tcp").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mapping.hasPrefix("127.0.0.1:"), "\(mapping)")
        let port = Int(mapping.split(separator: ":").last ?? "") ?? 0
        #expect(port >= 1024)
        #expect(try fetch(s, "http://127.0.0.1:\(port)/") == "local-only\n")
        #expect(try s.host("curl", "-s", "--max-time", "2", "http://10.250.0.1:\(port)/").status != 0,
                "a port bound to 127.0.0.1 must not answer on the host's other addresses")
        try s.minirt("rm", "-f", "local")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func publishedPortAnswersOnTheHostsOtherAddresses() throws {
        let s = try Sandbox()
        try s.host("ip", "addr", "add", "10.250.0.1/32", "dev", "lo")
        let p = try startWeb(s, name: "pub", text: "everywhere", extra: ["-p", "8083:80"])
        _ = try s.waitForPid("pub")
        _ = try s.id(of: "pub")
        #expect(try fetch(s, "http://10.250.0.1:8083/") == "everywhere\n")
        try s.minirt("rm", "-f", "pub")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func conflictingPublishFailsAndLeavesTheFirstWorking() throws {
        let s = try Sandbox()
        let p = try startWeb(s, name: "first", text: "first", extra: ["-p", "8084:80"])
        _ = try s.waitForPid("first")
        _ = try s.id(of: "first")
        #expect(try fetch(s, "http://127.0.0.1:8084/") == "first\n")
        let before = s.containerFolders()
        let o = try s.minirt("run", "--rm", "--name", "second", "-p", "8084:80", "busybox", "true")
        #expect(o.status == 125)
        #expect(o.stderr.contains("port 0.0.0.0:8084/tcp is already allocated"), "\(o.stderr)")
        #expect(o.stderr.split(separator: "\n").count == 1)
        #expect(s.containerFolders() == before, "a refused run leaves no state")
        #expect(try fetch(s, "http://127.0.0.1:8084/") == "first\n")
        try s.minirt("rm", "-f", "first")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func portTakenByAHostProgramIsRefused() throws {
        let s = try Sandbox()
        // A host program listening on 8085 in this test's namespace.
        let listener = try Child("/usr/bin/nsenter", ["--net=/run/netns/\(s.netns!)", "--", "\(Sandbox.images)/busybox/rootfs/bin/busybox", "nc", "-l", "-p", "8085"],
                                 env: [:], stdin: nil, stdout: nil, stderr: nil)
        // SIGKILL: the test runner's blocked signals are inherited by what it starts.
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        var listening = false
        for _ in 0..<50 where !listening {
            listening = try s.host("ss", "-ltn").stdout.contains(":8085")
            if !listening { usleep(20_000) }
        }
        #expect(listening)
        let o = try s.minirt("run", "--rm", "-p", "8085:80", "busybox", "true")
        #expect(o.status == 125 && o.stderr.contains("already allocated"), "\(o.stderr)")
        try s.finish()
    }

    @Test func podModelSharesOneNetworkNamespace() throws {
        let s = try Sandbox()
        let p = try startWeb(s, name: "pod", text: "from-localhost")
        _ = try s.waitForPid("pod")
        _ = try s.id(of: "pod")
        let o = try s.minirt("run", "--rm", "--network", "container:pod", "busybox", "sh", "-c",
                             "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 5 wget -qO- http://127.0.0.1/ && break; sleep 0.2; done")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout == "from-localhost\n")
        let mode = try s.minirt("run", "--rm", "--network", "container:pod", "busybox", "true")
        #expect(mode.status == 0)
        let stopped = try s.minirt("run", "--rm", "--network", "container:nobody", "busybox", "true")
        #expect(stopped.status == 125 && stopped.stderr.contains("no such container: nobody"))
        try s.minirt("rm", "-f", "pod")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func userDefinedNetworkOnASecondSubnet() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.5.0/24", "lab").status == 0)
        let ls = try s.minirt("network", "ls")
        #expect(ls.stdout.contains("lab") && ls.stdout.contains("10.77.5.0/24"))
        let p = try startWeb(s, name: "labweb", text: "lab", extra: ["--network", "lab"])
        _ = try s.waitForPid("labweb")
        _ = try s.id(of: "labweb")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Bridge}}", "labweb").stdout
        #expect(ip.hasPrefix("10.77.5.") && ip.hasSuffix(" mr-lab\n"), "\(ip)")
        let addr = String(ip.split(separator: " ")[0])
        #expect(try fetch(s, "http://\(addr)/") == "lab\n")
        let inspect = try s.minirt("network", "inspect", "lab").stdout
        #expect(inspect.contains("labweb") && inspect.contains(addr))
        let busy = try s.minirt("network", "rm", "lab")
        #expect(busy.status == 1 && busy.stderr.contains("in use by labweb"))
        let overlap = try s.minirt("network", "create", "--subnet", "10.77.5.128/25", "lab2")
        #expect(overlap.status == 1 && overlap.stderr.contains("overlaps network lab"), "\(overlap.stderr)")
        try s.minirt("rm", "-f", "labweb")
        p.waitUntilExit()
        #expect(try s.minirt("network", "rm", "lab").status == 0)
        #expect(try s.host("ip", "link", "show", "mr-lab").status != 0, "network rm deletes its bridge")
        #expect(!(try s.minirt("network", "ls").stdout.contains("lab")))
        try s.finish()
    }

    @Test func cniCheckSeesABrokenAttachment() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--name", "chk", "busybox", "sleep", "30"])
        _ = try s.waitForPid("chk")
        _ = try s.id(of: "chk")
        #expect(try s.minirt("network", "check", "chk").stdout == "chk: network bridge is intact\n")
        // Break it from inside: the container loses its default route.
        let pin = try s.minirt("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "chk").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try Sandbox.exec("/usr/bin/nsenter", ["--net=\(pin)", "ip", "route", "del", "default"])
        let broken = try s.minirt("network", "check", "chk")
        #expect(broken.status == 1 && broken.stderr.contains("failed on CHECK"), "\(broken.stderr)")
        // The plugin calls are logged for learners: CNI_COMMAND, the config on stdin, the result.
        let id = try s.id(of: "chk")
        let log = try String(contentsOfFile: "\(s.root)/\(id)/cni.log", encoding: .utf8)
        #expect(log.contains("CNI_COMMAND=ADD") && log.contains("CNI_COMMAND=CHECK") && log.contains("\"prevResult\""))
        #expect(try s.minirt("rm", "-f", "chk").status == 0, "rm still works on a broken attachment")
        p.waitUntilExit()
        try s.finish()
    }

    @Test func subnetOverlappingAHostRouteIsRefused() throws {
        let s = try Sandbox()
        try s.host("ip", "link", "add", "lanA", "type", "veth", "peer", "name", "lanB")
        try s.host("ip", "addr", "add", "10.123.0.1/24", "dev", "lanA")
        try s.host("ip", "link", "set", "lanA", "up")
        try s.host("ip", "link", "set", "lanB", "up")
        let o = try s.minirt("network", "create", "--subnet", "10.123.0.0/16", "clash")
        #expect(o.status == 1 && o.stderr.contains("overlaps the host route 10.123.0.0/24"), "\(o.stderr)")
        let bad = try s.minirt("network", "create", "--subnet", "10.124.0.1/16", "hostbits")
        #expect(bad.status == 1 && bad.stderr.contains("host bits are set"))
        try s.host("ip", "link", "delete", "lanA")
        try s.finish()
    }

    @Test func macvlanNetworkFromCreate() throws {
        let s = try Sandbox()
        // A parent interface for macvlan inside this test's namespace.
        try s.host("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
        try s.host("ip", "link", "set", "lan0", "up")
        try s.host("ip", "link", "set", "lan1", "up")
        #expect(try s.minirt("network", "create", "--driver", "macvlan", "-o", "parent=lan0", "--subnet", "10.79.0.0/24", "mac").status == 0)
        let p = try startWeb(s, name: "m1", text: "macvlan", extra: ["--network", "mac"])
        _ = try s.waitForPid("m1")
        _ = try s.id(of: "m1")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "m1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ip.hasPrefix("10.79.0."))
        // Containers on one macvlan parent talk directly (bridge mode), no host bridge involved.
        let o = try s.minirt("run", "--rm", "--network", "mac", "busybox", "timeout", "5", "wget", "-qO-", "http://\(ip)/")
        #expect(o.stdout == "macvlan\n", "\(o.stderr)")
        try s.minirt("rm", "-f", "m1")
        p.waitUntilExit()
        #expect(try s.minirt("network", "rm", "mac").status == 0)
        try s.host("ip", "link", "delete", "lan0")
        try s.finish()
    }

    @Test func outboundTrafficIsMasqueradedEvenUnderAForwardDropPolicy() throws {
        let s = try Sandbox()
        // A second namespace stands for "the outside world": a peer reached through
        // the test's host namespace, with a listener that prints its peer's address.
        let outside = "\(s.netns!)-out"
        _ = try Sandbox.exec("/usr/sbin/ip", ["netns", "add", outside])
        defer { _ = try? Sandbox.exec("/usr/sbin/ip", ["netns", "delete", outside]) }
        try s.host("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", outside)
        try s.host("ip", "addr", "add", "10.251.0.1/24", "dev", "up0")
        try s.host("ip", "link", "set", "up0", "up")
        _ = try Sandbox.exec("/usr/sbin/ip", ["-n", outside, "addr", "add", "10.251.0.2/24", "dev", "up1"])
        _ = try Sandbox.exec("/usr/sbin/ip", ["-n", outside, "link", "set", "up1", "up"])
        _ = try Sandbox.exec("/usr/sbin/ip", ["-n", outside, "link", "set", "lo", "up"])
        // Forwarding refused by default, as on many hosts: the firewall plugin opens it per container.
        try s.host("iptables", "-P", "FORWARD", "DROP")
        let listener = try Child("/usr/bin/nsenter", ["--net=/run/netns/\(outside)", "--", "\(Sandbox.images)/busybox/rootfs/bin/busybox",
                              "nc", "-l", "-p", "9000", "-e", "\(Sandbox.images)/busybox/rootfs/bin/busybox", "netstat", "-tn"],
                                 env: [:], stdin: nil, stdout: nil, stderr: nil)
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        // Bounded wait for the listener, as everywhere else (no fixed sleep).
        for _ in 0..<100 {
            if try Sandbox.exec("/usr/sbin/ip", ["netns", "exec", outside, "cat", "/proc/net/tcp"]).stdout.contains(":2328 ") { break }
            usleep(20_000)
        }
        let o = try s.minirt("run", "--rm", "busybox", "sh", "-c",
                             "ip route | grep default; cat /proc/sys/net/ipv4/ip_forward; timeout 5 nc 10.251.0.2 9000 </dev/null")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.first?.hasPrefix("default via 10.99.0.1") == true, "\(o.stdout)")
        // The peer saw the host's address, not the container's: masquerade.
        #expect(o.stdout.contains("10.251.0.2:9000") && o.stdout.contains("10.251.0.1:"), "\(o.stdout)")
        let seen = o.lines.filter { $0.contains(":9000") }
        #expect(seen.count == 1 && !seen[0].contains("10.99.0."), "the container's own address must not reach the outside: \(seen)")
        let fwd = try s.host("cat", "/proc/sys/net/ipv4/ip_forward").stdout
        #expect(fwd == "1\n")
        try s.host("ip", "link", "delete", "up0")
        try s.finish()
    }

    @Test func internalNetworkHasNoWayOut() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--internal", "--subnet", "10.80.0.0/24", "--gateway", "10.80.0.254", "sealed").status == 0)
        let o = try s.minirt("run", "--rm", "--network", "sealed", "busybox", "sh", "-c", "ip route; ip -o -4 addr show eth0")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(!o.stdout.contains("default"), "no default route on an internal network: \(o.stdout)")
        #expect(o.stdout.contains("10.80.0."))
        let view = try s.minirt("network", "inspect", "-f", "{{.Internal}} {{json .IPAM.Config}}", "sealed").stdout
        #expect(view == "true [{\"Subnet\":\"10.80.0.0/24\",\"Gateway\":\"10.80.0.254\"}]\n", "\(view)")
        #expect(try s.minirt("network", "rm", "sealed").status == 0)
        try s.finish()
    }

    @Test func killedRunnerLeavesNothingAfterRm() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--name", "doomed", "-p", "8086:80", "busybox", "sleep", "30"])
        let pid = try s.waitForPid("doomed")
        let id = try s.id(of: "doomed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        var gone = false
        for _ in 0..<200 where !gone { gone = kill(pid, 0) != 0; if !gone { usleep(10_000) } }
        #expect(gone)
        // The namespace pin, veth, DNAT rules and lease outlive the runner until rm.
        #expect(FileManager.default.fileExists(atPath: "/var/run/netns/minirt-\(id.prefix(12))"))
        #expect(try s.minirt("rm", "doomed").status == 0)
        try s.finish()
    }

    @Test func badNetworkInputIsRefusedCleanly() throws {
        let s = try Sandbox()
        func refused(_ args: [String], _ mentions: String, env: [String: String] = [:]) throws {
            var e = s.environment
            for (k, v) in env { e[k] = v }
            let (exe, pre) = s.command
            let o = try Sandbox.exec(exe, pre + args, env: e)
            #expect(o.status == 125, "\(args): \(o.status) \(o.stderr)")
            #expect(o.stderr.contains(mentions) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
            #expect(s.containerFolders().isEmpty)
        }
        try refused(["run", "-p", "70000:80", "busybox", "true"], "out of range")
        try refused(["run", "-p", "abc", "busybox", "true"], "invalid port specification \"abc\"")
        try refused(["run", "-p", "80:80/sctpx", "busybox", "true"], "protocol \"sctpx\"")
        try refused(["run", "--network", "nosuchnet", "busybox", "true"], "unknown network \"nosuchnet\"")
        try refused(["run", "--network", "none", "-p", "80", "busybox", "true"], "port publishing needs a bridge network")
        try refused(["run", "busybox", "true"], "CNI plugin \"bridge\" not found in /nonexistent/cni",
                    env: ["MINIRT_CNI_PATH": "/nonexistent/cni"])
        let dir = s.root + "/.cni-config"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "{ not json".write(toFile: dir + "/broken.conflist", atomically: true, encoding: .utf8)
        try refused(["run", "--network", "broken", "busybox", "true"], "CNI config \(dir)/broken.conflist is malformed: not valid JSON")
        // A plugin that fails: host-local given an impossible range. Its CNI error msg is shown.
        try #"{"cniVersion":"1.0.0","name":"bad","plugins":[{"type":"bridge","bridge":"mr-bad","ipam":{"type":"host-local","ranges":[[{"subnet":"10.66.0.0/24","rangeStart":"10.66.1.5"}]]}}]}"#
            .write(toFile: dir + "/bad.conflist", atomically: true, encoding: .utf8)
        try refused(["run", "--network", "bad", "busybox", "true"], "CNI plugin \"bridge\" failed on ADD")
        try s.finish()
    }
}

/// Name resolution through the network's DNS server (dnsmasq on the gateway).
@Suite struct DNSTests {
    func dnsServers(_ s: Sandbox) -> [String] {
        let out = (try? Sandbox.exec("/usr/bin/pgrep", ["-a", "dnsmasq"]).stdout) ?? ""
        return out.split(separator: "\n").map(String.init).filter { $0.contains(s.root + "/.dns/") }
    }

    @Test func containersResolveEachOtherByNameAndNamesStayLive() throws {
        let s = try Sandbox()
        let web = try s.start(["run", "--name", "web", "--network-alias", "www", "busybox", "sleep", "60"])
        _ = try s.waitForPid("web")
        _ = try s.id(of: "web")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(dnsServers(s).count == 1, "the first container starts the network's DNS server")

        // By name, by alias, by NAME.<network>; the search list (kubelet's, so service names
        // work too) makes the short name work.
        let o = try s.minirt("run", "--rm", "--name", "client", "busybox", "sh", "-c",
                             "grep -E '^(search|nameserver)' /etc/resolv.conf; for n in web www web.bridge www.bridge; do ping -c 1 -W 2 $n | head -1; done")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines == ["search bridge.svc.cluster.local svc.cluster.local cluster.local bridge", "nameserver 10.99.0.1"] + ["web", "www", "web.bridge", "www.bridge"].map { "PING \($0) (\(ip)): 56 data bytes" })

        // A container started later is found by one started earlier.
        let late = try s.start(["run", "--name", "late", "busybox", "sleep", "60"])
        _ = try s.waitForPid("late")
        _ = try s.id(of: "late")
        let lateIP = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "late").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let found = try s.minirt("run", "--rm", "busybox", "nslookup", "late")
        #expect(found.stdout.contains("Address: \(lateIP)"), "\(found.stdout)")

        // A removed container's name stops resolving (the plain name is never forwarded upstream).
        try s.minirt("rm", "-f", "late")
        late.waitUntilExit()
        let gone = try s.minirt("run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 1 late; echo rc=$?")
        #expect(gone.stdout.contains("rc=1") && !gone.stdout.contains(lateIP), "\(gone.stdout) \(gone.stderr)")

        try s.minirt("rm", "-f", "web")
        web.waitUntilExit()
        #expect(dnsServers(s).isEmpty, "the last container out stops the DNS server")
        try s.finish()
    }

    @Test func dnsSearchMakesAShortNameResolve() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.78.0.0/24", "corp").status == 0)
        let db = try s.start(["run", "--name", "db", "--network", "corp", "busybox", "sleep", "60"])
        _ = try s.waitForPid("db")
        _ = try s.id(of: "db")
        // The resolver completes the short name with the search domain before asking:
        // nslookup shows the name that answered.
        let o = try s.minirt("run", "--rm", "--network", "corp", "--dns-search", "corp", "busybox", "sh", "-c",
                             "grep ^search /etc/resolv.conf; nslookup db | grep -A1 '^Name:'")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.first == "search corp")
        #expect(o.lines.count == 3 && o.lines[1] == "Name:\tdb.corp" && o.lines[2].hasPrefix("Address: 10.78.0."), "\(o.stdout)")
        // Without a search domain the short name is not completed.
        let plain = try s.minirt("run", "--rm", "--network", "corp", "--dns-search", ".", "busybox", "sh", "-c",
                                 "grep -c ^search /etc/resolv.conf; nslookup db | grep '^Name:'")
        #expect(plain.lines == ["0", "Name:\tdb"], "\(plain.stdout)")
        try s.minirt("rm", "-f", "db")
        db.waitUntilExit()
        #expect(try s.minirt("network", "rm", "corp").status == 0)
        try s.finish()
    }

    /// Names the network does not know go to the upstream servers (the first
    /// container's --dns here: a second dnsmasq on this test's loopback), also
    /// after a reload (SIGHUP when the second container registers).
    @Test func networkServerForwardsOtherNamesUpstream() throws {
        let s = try Sandbox()
        let upstream = try Child("/usr/bin/nsenter", ["--net=/run/netns/\(try #require(s.netns))", "--", "/usr/sbin/dnsmasq",
                                 "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
                                 "--listen-address=127.0.0.77", "--bind-interfaces", "--pid-file=\(s.root)/.tmp/upstream.pid",
                                 "--address=/up.test/10.1.2.3"],
                                 env: [:], stdin: nil, stdout: nil, stderr: nil)
        defer { kill(upstream.processIdentifier, SIGTERM); upstream.waitUntilExit() }
        #expect(try s.minirt("network", "create", "--subnet", "10.79.0.0/24", "fwd").status == 0)
        let first = try s.start(["run", "--name", "first", "--network", "fwd", "--dns", "127.0.0.77", "busybox", "sleep", "60"])
        _ = try s.waitForPid("first")
        _ = try s.id(of: "first")
        let o = try s.minirt("run", "--rm", "--network", "fwd", "busybox", "sh", "-c",
                             "for i in 1 2 3 4 5; do nslookup www.up.test 10.79.0.1 && break; sleep 0.2; done")
        #expect(o.status == 0 && o.stdout.contains("Address: 10.1.2.3"), "\(o.stdout) \(o.stderr)")
        try s.minirt("rm", "-f", "first")
        first.waitUntilExit()
        #expect(dnsServers(s).isEmpty, "the last container out stops the DNS server")
        #expect(try s.minirt("network", "rm", "fwd").status == 0)
        try s.finish()
    }

    @Test func dnsFlagsShapeResolvConf() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--rm", "--network", "none", "--dns", "10.1.2.3", "--dns-search", "lab.test",
                             "--dns-option", "ndots:2", "--add-host", "db:10.9.9.9", "-h", "box", "busybox", "sh", "-c",
                             "cat /etc/resolv.conf /etc/hostname; grep db /etc/hosts")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("search lab.test\nnameserver 10.1.2.3\noptions ndots:2\n"))
        #expect(o.stdout.contains("box\n10.9.9.9\tdb\n"))
        try s.finish()
    }
}

/// --ip and --mac-address (issue 14): host-local's `ips` and bridge's `mac`
/// capabilities, checked before anything is made.
@Suite struct StaticAddressTests {
    @Test func addressAndMACAsAskedForAndRefusedClearly() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.9.0/24", "fixed").status == 0)
        let o = try s.minirt("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", "10.77.9.50", "--mac-address", "02:42:ac:11:00:99",
                             "busybox", "sleep", "60")
        #expect(o.status == 0, "\(o.stderr)")
        _ = try s.waitForPid("pinned")
        let inside = try s.minirt("exec", "pinned", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address")
        #expect(inside.lines == ["10.77.9.50/24", "02:42:ac:11:00:99"], "\(inside.stdout) \(inside.stderr)")
        let view = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}", "pinned")
        #expect(view.stdout == "10.77.9.50 02:42:ac:11:00:99\n", "\(view.stdout)")
        // The same address again is refused at once, and leaves nothing.
        func refused(_ args: [String], _ mentions: String) throws {
            let r = try s.minirt(["run", "--rm"] + args + ["busybox", "true"])
            #expect(r.status == 125 && r.stderr.contains(mentions) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        try refused(["--network", "fixed", "--ip", "10.77.9.50"], "already in use")
        try refused(["--network", "fixed", "--ip", "10.77.10.5"], "outside network fixed's subnet")
        try refused(["--network", "fixed", "--ip", "10.77.9.1"], "gateway")
        try refused(["--network", "fixed", "--ip", "10.77.9.x"], "invalid --ip")
        try refused(["--ip", "10.99.0.77"], "user defined networks only")
        try refused(["--network", "none", "--ip", "10.77.9.51"], "network mode none")
        try refused(["--network", "fixed", "--mac-address", "01:00:5e:00:00:01"], "unicast")
        #expect(s.containerFolders().count == 1)
        // Started again, it keeps its address.
        try s.minirt("stop", "-t", "1", "pinned")
        try s.minirt("start", "pinned")
        _ = try s.waitForPid("pinned")
        #expect(try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pinned").stdout == "10.77.9.50\n")
        try s.minirt("rm", "-f", "pinned")
        try s.minirt("network", "rm", "fixed")
        try s.finish()
    }
}

/// Isolation between bridge networks (issue 14), docker's default: the
/// firewall plugin's ingressPolicy same-bridge; -o isolate=false opts out.
@Suite struct IsolationTests {
    @Test func networksAreIsolatedUnlessTheyOptOut() throws {
        let s = try Sandbox()
        for (name, subnet, opts) in [("iso-a", "10.77.21.0/24", [String]()), ("iso-b", "10.77.22.0/24", []),
                                     ("open-a", "10.77.23.0/24", ["-o", "isolate=false"]), ("open-b", "10.77.24.0/24", ["-o", "isolate=false"])] {
            #expect(try s.minirt(["network", "create", "--subnet", subnet] + opts + [name]).status == 0)
        }
        for n in ["iso-a", "iso-b", "open-a", "open-b"] {
            try s.minirt("run", "-d", "--name", n, "--network", n, "busybox", "sleep", "120")
            _ = try s.waitForPid(n)
        }
        func address(_ n: String) throws -> String {
            try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", n).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func reaches(_ from: String, _ to: String) throws -> Bool {
            try s.minirt("exec", from, "ping", "-c", "1", "-W", "1", try address(to)).status == 0
        }
        let ab = try reaches("iso-a", "iso-b"), ba = try reaches("iso-b", "iso-a")
        #expect(!ab && !ba, "isolated networks reach each other")
        let open1 = try reaches("open-a", "open-b"), open2 = try reaches("open-b", "open-a")
        #expect(open1 && open2, "networks with isolate=false do not reach each other")
        // Within one network, and to the host, traffic flows as before.
        try s.minirt("run", "-d", "--name", "iso-a2", "--network", "iso-a", "busybox", "sleep", "120")
        _ = try s.waitForPid("iso-a2")
        let same = try reaches("iso-a2", "iso-a")
        #expect(same)
        try s.minirt("rm", "-f", "iso-a", "iso-a2", "iso-b", "open-a", "open-b")
        // The plugin leaves its per-bridge rules behind; network rm takes them.
        try s.minirt("network", "rm", "iso-a", "iso-b", "open-a", "open-b")
        let rules = try s.host("iptables", "-S", "CNI-ISOLATION-STAGE-2").stdout
        #expect(!rules.contains("mr-iso-a") && !rules.contains("mr-iso-b"), "\(rules)")
        try s.finish()
    }
}

/// docker's com.docker.network.bridge.enable_icc=false (issue 14): containers
/// of the network cannot reach each other, the gateway and the host still can;
/// the rule lives in minirt's nft table, comes back after the tables are
/// flushed (a reboot) at the next start, and goes with network rm or gc.
@Suite struct InterContainerTests {
    @Test func iccFalseSeparatesContainersOfOneNetwork() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.41.0/24", "-o", "com.docker.network.bridge.enable_icc=false", "apart").status == 0)
        #expect(try s.minirt("network", "create", "--subnet", "10.77.42.0/24", "-o", "icc=true", "together").status == 0)
        #expect(try s.minirt("network", "inspect", "-f", "{{json .Options}}", "apart").stdout.contains("\"com.docker.network.bridge.enable_icc\":\"false\""))
        for (name, net) in [("a1", "apart"), ("a2", "apart"), ("t1", "together"), ("t2", "together")] {
            try #require(try s.minirt("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "120").status == 0)
            _ = try s.waitForPid(name)
        }
        func address(_ n: String) throws -> String {
            try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", n).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func reaches(_ from: String, _ ip: String) throws -> Bool {
            try s.minirt("exec", from, "ping", "-c", "1", "-W", "1", ip).status == 0
        }
        #expect(try !reaches("a1", try address("a2")) && !reaches("a2", try address("a1")), "enable_icc=false containers reach each other")
        #expect(try reaches("a1", "10.77.41.1"), "the gateway (the host) is still reachable")
        #expect(try reaches("t1", try address("t2")))
        let table = try s.host("nft", "list", "table", "inet", "minirt").stdout
        #expect(table.contains("chain no-icc-") && table.contains("enable_icc=false"), "\(table)")

        // The tables emptied (as by a reboot): the next start writes the rule again first.
        try s.host("nft", "delete", "table", "inet", "minirt")
        try #require(try s.minirt("run", "-d", "--name", "a3", "--network", "apart", "busybox", "sleep", "120").status == 0)
        _ = try s.waitForPid("a3")
        #expect(try !reaches("a3", try address("a1")))
        try s.minirt("rm", "-f", "a1", "a2", "a3", "t1", "t2")
        try s.minirt("network", "rm", "apart", "together")
        #expect(try s.host("nft", "list", "table", "inet", "minirt").status != 0, "network rm leaves no icc chain, and no empty table")

        // A network removed by hand (its conflist deleted): gc drops its rule.
        #expect(try s.minirt("network", "create", "--subnet", "10.77.43.0/24", "-o", "icc=false", "gone").status == 0)
        #expect(try s.host("nft", "list", "table", "inet", "minirt").stdout.contains("no-icc-"))
        try FileManager.default.removeItem(atPath: s.root + "/.cni-config/gone.conflist")
        #expect(try s.minirt("system", "gc").stdout.contains("enable_icc=false rule"))
        #expect(try s.host("nft", "list", "table", "inet", "minirt").status != 0)
        let macvlan = try s.minirt("network", "create", "--subnet", "10.77.44.0/24", "-d", "macvlan", "-o", "parent=lo", "-o", "icc=false", "mv")
        #expect(macvlan.status == 1 && macvlan.stderr.contains("bridge networks"), "\(macvlan.stderr)")
        try s.finish()
    }
}

/// The host firewall's say (issue 14): the firewall plugin jumps from its
/// CNI-FORWARD chain to CNI-ADMIN before any rule of its own and never writes
/// CNI-ADMIN itself, so an administrator's rules there filter traffic to
/// published ports and between containers, as docker's DOCKER-USER chain does;
/// minirt's runs and removals leave them alone.
@Suite struct AdminChainTests {
    @Test func adminRulesFilterPublishedPortsAndContainers() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "web", "-p", "8090:80", "busybox", "sh", "-c",
                                  "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www").status == 0)
        try #require(try s.minirt("run", "-d", "--name", "client", "--add-host", "gw:host-gateway", "busybox", "sleep", "120").status == 0)
        _ = try s.waitForPid("web")
        _ = try s.waitForPid("client")
        func ip(_ n: String) throws -> String {
            try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", n).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let web = try ip("web"), client = try ip("client")
        func get(_ url: String) throws -> String { try s.minirt("exec", "client", "timeout", "3", "wget", "-qO-", url).stdout }
        var direct = ""
        for _ in 0..<50 where direct != "served\n" { direct = try get("http://\(web)/"); if direct != "served\n" { usleep(100_000) } }
        #expect(direct == "served\n")
        #expect(try get("http://gw:8090/") == "served\n")

        // The administrator: no traffic from this client to the container, whichever way it comes.
        let rule = ["-s", client, "-d", web, "-p", "tcp", "--dport", "80", "-j", "REJECT"]
        #expect(try s.host(["iptables", "-I", "CNI-ADMIN"] + rule).status == 0)
        #expect(try get("http://\(web)/").isEmpty, "the admin's rule holds between containers")
        #expect(try get("http://gw:8090/").isEmpty, "and for the published port (after portmap's DNAT)")
        // minirt's own starts and removals leave CNI-ADMIN as the administrator wrote it.
        try #require(try s.minirt("run", "--rm", "busybox", "true").status == 0)
        #expect(try s.host("iptables", "-S", "CNI-ADMIN").stdout.contains("-s \(client)/32 -d \(web)/32"))
        #expect(try s.host(["iptables", "-D", "CNI-ADMIN"] + rule).status == 0)
        #expect(try get("http://\(web)/") == "served\n")
        try s.minirt("rm", "-f", "web", "client")
        try s.finish()
    }
}

/// `network create -o ingress-rate= -o egress-rate=` (issue 14): the bandwidth
/// plugin shapes each container's traffic; the test reads the kernel's qdiscs
/// (a token bucket on the host veth for ingress, on an ifb device for egress).
@Suite struct BandwidthTests {
    @Test func ratesBecomeTokenBucketsOnTheVeth() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.51.0/24", "-o", "ingress-rate=1mbit", "-o", "egress-rate=2mbit", "shaped").status == 0)
        try #require(try s.minirt("run", "-d", "--name", "slow", "--network", "shaped", "busybox", "sleep", "120").status == 0)
        _ = try s.waitForPid("slow")
        let veth = try s.minirt("inspect", "-f", "{{.NetworkSettings.HostInterface}}", "slow").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let qdiscs = try s.host("tc", "qdisc", "show").stdout
        #expect(qdiscs.contains("tbf 1: dev \(veth) root") && qdiscs.contains("rate 1Mbit"), "\(veth): \(qdiscs)")
        #expect(qdiscs.contains("dev bwp") && qdiscs.contains("rate 2Mbit"), "\(qdiscs)")
        #expect(try s.minirt("network", "inspect", "-f", "{{json .Options}}", "shaped").stdout.contains("\"ingress-rate\":\"1000000bit\""))
        try s.minirt("rm", "-f", "slow")
        #expect(!(try s.host("ip", "-o", "link").stdout.contains("bwp")), "the plugin's ifb device went with the container")
        for bad in ["ingress-rate=fast", "egress-rate=0", "ingress-rate=-5mbit"] {
            let o = try s.minirt("network", "create", "--subnet", "10.77.52.0/24", "-o", bad, "bad")
            #expect(o.status == 1 && o.stderr.split(separator: "\n").count == 1, "\(bad): \(o.stderr)")
        }
        try s.minirt("network", "rm", "shaped")
        try s.finish()
    }
}

/// docker's bridge options and `network prune` (issue 14).
@Suite struct NetworkOptionsTests {
    @Test func bridgeNameMTUAndPrune() throws {
        let s = try Sandbox()
        #expect(try s.minirt("network", "create", "--subnet", "10.77.31.0/24", "-o", "com.docker.network.bridge.name=lab-br0",
                             "-o", "com.docker.network.driver.mtu=1400", "named").status == 0)
        let mtu = try s.minirt("run", "--rm", "--network", "named", "busybox", "cat", "/sys/class/net/eth0/mtu")
        #expect(mtu.stdout == "1400\n", "\(mtu.stdout) \(mtu.stderr)")
        #expect(try s.host("ip", "-o", "link", "show", "lab-br0").stdout.contains("lab-br0"))
        for (opt, mentions) in [("com.docker.network.bridge.name=much-too-long-name", "1 to 15"), ("com.docker.network.driver.mtu=10", "68-65535"),
                                ("com.docker.network.bridge.name=lab-br0", "belongs to network named")] {
            let o = try s.minirt("network", "create", "--subnet", "10.77.32.0/24", "-o", opt, "bad")
            #expect(o.status != 0 && o.stderr.contains(mentions), "\(opt): \(o.stderr)")
        }
        // prune: unused networks go; one a (stopped) container uses stays, and so does the default.
        #expect(try s.minirt("network", "create", "--subnet", "10.77.33.0/24", "kept").status == 0)
        try s.minirt("run", "--name", "user", "--network", "kept", "busybox", "true")
        let pruned = try s.minirt("network", "prune", "-f")
        #expect(pruned.stdout == "Deleted Networks:\nnamed\n", "\(pruned.stdout) \(pruned.stderr)")
        #expect(try s.minirt("network", "ls", "-q").lines.contains("kept"))
        try s.minirt("rm", "user")
        #expect(try s.minirt("network", "prune").stdout.contains("kept"))
        #expect(try s.host("ip", "-o", "link", "show", "lab-br0").status != 0, "the bridge went with its network")
        try s.finish()
    }
}

/// docker's legacy --link: the linked container in /etc/hosts under its alias and name.
@Suite struct LinkTests {
    @Test func linkAddsHostsEntries() throws {
        let s = try Sandbox()
        try s.minirt("run", "-d", "--name", "web", "busybox", "sleep", "120")
        _ = try s.waitForPid("web")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let o = try s.minirt("run", "--rm", "--link", "web:db", "busybox", "sh", "-c", "grep -w -e db -e web /etc/hosts; ping -c 1 -W 2 db >/dev/null && echo reached")
        #expect(o.status == 0 && o.stdout.contains(ip) && o.stdout.contains("db") && o.stdout.contains("web") && o.stdout.hasSuffix("reached\n"),
                "\(o.stdout) \(o.stderr)")
        for bad in ["nope", "web:bad alias", "web:"] {
            let r = try s.minirt("run", "--rm", "--link", bad, "busybox", "true")
            #expect(r.status == 125 && r.stderr.split(separator: "\n").count == 1, "\(bad): \(r.stderr)")
        }
        let elsewhere = try s.minirt("run", "--rm", "--network", "none", "--link", "web", "busybox", "true")
        #expect(elsewhere.status == 125 && elsewhere.stderr.contains("cannot link"), "\(elsewhere.stderr)")
        try s.minirt("rm", "-f", "web")
        try s.finish()
    }
}
