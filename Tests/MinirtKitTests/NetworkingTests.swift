import Testing
import FoundationEssentials
@testable import MinirtKit
import MinirtCNI
import MinirtState

@Suite struct PortSpecTests {
    func b(_ ip: String, _ h: UInt16, _ c: UInt16, _ p: String = "tcp") -> PortBinding {
        PortBinding(hostIP: ip, hostPort: h, containerPort: c, proto: p)
    }

    @Test func dockerForms() throws {
        #expect(try PortSpec.parse("8080:80") == [b("", 8080, 80)])
        #expect(try PortSpec.parse("80") == [b("", 0, 80)])
        #expect(try PortSpec.parse("127.0.0.1:8080:80") == [b("127.0.0.1", 8080, 80)])
        #expect(try PortSpec.parse("127.0.0.1::80") == [b("127.0.0.1", 0, 80)])
        #expect(try PortSpec.parse("53:53/udp") == [b("", 53, 53, "udp")])
        #expect(try PortSpec.parse("8080-8081:80-81") == [b("", 8080, 80), b("", 8081, 81)])
        #expect(try PortSpec.parse("[::1]:8080:80") == [b("::1", 8080, 80)])
        #expect(try PortSpec.parse("80/TCP") == [b("", 0, 80)])
    }

    @Test func badSpecsSayWhy() {
        for (spec, why) in [("70000:80", "out of range"), ("abc", "not a port number"), ("80:80/sctpx", "not tcp or udp"),
                            ("8080-8082:80-81", "host range has 3"), ("1.2.3:80:80", "not an IP address"),
                            ("81-80:81-80", "backwards"), ("8080:0", "cannot be 0"), ("a:b:c:d", "too many")] {
            do {
                _ = try PortSpec.parse(spec)
                Issue.record("\(spec) was accepted")
            } catch {
                #expect("\(error)".contains(why), "\(spec): \(error)")
                #expect("\(error)".contains("invalid port specification \"\(spec)\""))
            }
        }
    }
}

@Suite struct DNSFilesTests {
    @Test func hostsNameTheContainer() {
        let h = DNSFiles.hosts(hostname: "abc123", name: "web", address: "10.99.0.2", extraHosts: [("db", "10.0.0.9")])
        #expect(h.hasPrefix("127.0.0.1\tlocalhost\n"))
        #expect(h.contains("10.0.0.9\tdb\n"))
        #expect(h.hasSuffix("10.99.0.2\tabc123 web\n"))
        #expect(!DNSFiles.hosts(hostname: "h", name: "n", address: "", extraHosts: []).contains("\th n"))
    }

    @Test func loopbackResolversAreReplaced() {
        let host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"
        let upstream = "nameserver 10.0.0.2\nnameserver 127.0.0.1\n"
        let r = DNSFiles.resolvConf(host: host, upstream: upstream, dns: [], search: [], options: [], keepLoopback: false)
        #expect(r.contains("nameserver 10.0.0.2\n") && !r.contains("127.0.0"))
        #expect(r.contains("search corp.example\n") && r.contains("options edns0 trust-ad\n"))
        let fallback = DNSFiles.resolvConf(host: host, upstream: nil, dns: [], search: [], options: [], keepLoopback: false)
        #expect(fallback.contains("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"))
        let hostMode = DNSFiles.resolvConf(host: host, upstream: nil, dns: [], search: [], options: [], keepLoopback: true)
        #expect(hostMode.contains("nameserver 127.0.0.53"))
    }

    @Test func flagsOverride() {
        let r = DNSFiles.resolvConf(host: "nameserver 1.1.1.1\nsearch a\n", upstream: nil, dns: ["9.9.9.9"],
                                    search: ["lab.test"], options: ["ndots:2"], keepLoopback: false)
        #expect(r.contains("nameserver 9.9.9.9\n") && !r.contains("1.1.1.1"))
        #expect(r.contains("search lab.test\n") && r.contains("options ndots:2\n"))
    }

    @Test func extraHosts() throws {
        #expect(try DNSFiles.parseExtraHost("db:10.0.0.9", gateway: "") == ("db", "10.0.0.9"))
        #expect(try DNSFiles.parseExtraHost("gw:host-gateway", gateway: "10.99.0.1") == ("gw", "10.99.0.1"))
        #expect(try DNSFiles.parseExtraHost("v6:[::1]", gateway: "") == ("v6", "::1"))
        #expect(throws: RunError.self) { try DNSFiles.parseExtraHost("nocolon", gateway: "") }
        #expect(throws: RunError.self) { try DNSFiles.parseExtraHost("x:notanip", gateway: "") }
        #expect(throws: RunError.self) { try DNSFiles.parseExtraHost("gw:host-gateway", gateway: "") }
    }
}

@Suite struct CNIConfigTests {
    @Test func loadsListsAndSingleConfs() throws {
        let list = try NetworkConfigList(data: Data(#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","x":1},{"type":"portmap","capabilities":{"portMappings":true}}]}"#.utf8), source: "f")
        #expect(list.name == "n" && list.types == ["bridge", "portmap"])
        let single = try NetworkConfigList(data: Data(#"{"cniVersion":"0.4.0","name":"s","type":"ptp"}"#.utf8), source: "f")
        #expect(single.types == ["ptp"] && single.cniVersion == "0.4.0")
    }

    @Test func malformedConfigsNameFileAndReason() {
        for (text, why) in [("{", "not valid JSON"), (#"{"plugins":[{"type":"x"}]}"#, "\"name\" is missing"),
                            (#"{"name":"n","plugins":[]}"#, "non-empty"), (#"{"name":"n","plugins":[{"foo":1}]}"#, "no valid \"type\""),
                            (#"{"name":"n","plugins":[{"type":"../evil"}]}"#, "no valid \"type\""), (#"{"name":"n"}"#, "neither")] {
            do {
                _ = try NetworkConfigList(data: Data(text.utf8), source: "/etc/x.conflist")
                Issue.record("\(text) was accepted")
            } catch {
                #expect("\(error)".hasPrefix("CNI config /etc/x.conflist is malformed: ") && "\(error)".contains(why), "\(error)")
            }
        }
    }

    @Test func pluginConfigCarriesNameVersionPrevResultAndCapabilities() throws {
        let list = try NetworkConfigList(data: Data(#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false}}]}"#.utf8), source: "f")
        let a = Attachment(containerID: "c", netns: "/n", ifName: "eth0",
                           capabilityArgs: ["portMappings": .array([.object(["hostPort": .int(8080)])]), "bandwidth": .object([:])])
        let conf = CNIRuntime.pluginConfig(list.plugins[0], list, a, prevResult: .object(["ips": .array([])]))
        #expect(conf["name"] == .string("n") && conf["cniVersion"] == .string("1.0.0"))
        #expect(conf["prevResult"] == .object(["ips": .array([])]))
        #expect(conf["runtimeConfig"] == .object(["portMappings": .array([.object(["hostPort": .int(8080)])])]))
    }

    @Test func missingPluginNamesTheSearchPath() {
        #expect(throws: CNIError.pluginNotFound("bridge", searched: ["/nonexistent"])) {
            try CNIRuntime(path: ["/nonexistent"]).find("bridge")
        }
    }

    @Test func resultSummaryFindsAddressesAndDevices() throws {
        let result = try JSONValue.parse(#"""
        {"cniVersion":"1.0.0","interfaces":[{"name":"minirt0","mac":"aa"},{"name":"veth1234","mac":"bb"},
         {"name":"eth0","mac":"cc:dd","sandbox":"/var/run/netns/minirt-x"}],
         "ips":[{"address":"10.99.0.5/16","gateway":"10.99.0.1","interface":2}],"routes":[{"dst":"0.0.0.0/0"}]}
        """#)
        let s = ResultSummary(result, ifName: "eth0")
        #expect(s.ipAddress == "10.99.0.5" && s.prefixLength == 16 && s.gateway == "10.99.0.1")
        #expect(s.macAddress == "cc:dd" && s.hostInterface == "veth1234" && s.bridge == "minirt0")
    }
}

@Suite struct SubnetTests {
    @Test func parsesAndOverlaps() throws {
        let a = try IPv4Subnet("10.99.0.0/16")
        #expect(a.firstHost == "10.99.0.1" && a.description == "10.99.0.0/16")
        #expect(a.overlaps(try IPv4Subnet("10.99.3.0/24")))
        #expect(!a.overlaps(try IPv4Subnet("10.98.0.0/16")))
        #expect(throws: NetworkError.self) { try IPv4Subnet("10.99.0.1/16") }
        #expect(throws: NetworkError.self) { try IPv4Subnet("10.99.0.0") }
        #expect(throws: NetworkError.self) { try IPv4Subnet("300.1.1.0/24") }
    }

    @Test func bridgeNamesFitInFifteenBytes() {
        #expect(Networks.bridgeName(for: "lab") == "mr-lab")
        let long = Networks.bridgeName(for: "a-very-long-network-name")
        #expect(long.utf8.count <= 15 && long.hasPrefix("mr-"))
        #expect(long != Networks.bridgeName(for: "a-very-long-network-namf"))
    }
}

/// The bound every test command and hook runs under: a child past it is killed, not waited on.
@Suite struct ChildProcessTests {
    @Test func aChildPastItsTimeoutIsKilledAndSaysSo() throws {
        let out = try ChildProcess.run("/bin/sleep", arguments: ["30"], environment: [], timeout: 0.3)
        #expect(out.status == 137 && out.timedOut)
        #expect(String(decoding: out.stderr, as: UTF8.self).hasSuffix("killed after its timeout of 0.3 s"))
    }

    @Test func aChildWithinItsTimeoutKeepsItsStatus() throws {
        let out = try ChildProcess.run("/bin/sh", arguments: ["-c", "echo hi; exit 3"], environment: [], timeout: 30)
        #expect(out.status == 3 && !out.timedOut)
        #expect(String(decoding: out.stdout, as: UTF8.self) == "hi\n")
    }
}
