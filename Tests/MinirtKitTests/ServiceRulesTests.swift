import Testing
@testable import MinirtKit
@testable import MinirtState

/// The services' pure parts: port syntax, names, and the nft transactions
/// (what each change touches, and that stale objects are deleted safely).
@Suite struct ServiceRulesTests {
    static func service(affinity: String = "None", nodePort: UInt16? = nil) -> ServiceDefinition {
        ServiceDefinition(id: "abcdef0123456789", name: "web", network: "apps", clusterIP: "10.96.0.10",
                          ports: [ServicePort(port: 80, targetPort: 8080, proto: "tcp", nodePort: nodePort)],
                          selector: ["app": "web"], targets: [], sessionAffinity: affinity, stateRoot: "/r", created: "")
    }
    static let a = ServiceEndpoint(id: "1", name: "web1", address: "10.66.0.2")
    static let b = ServiceEndpoint(id: "2", name: "web2", address: "10.66.0.3")

    @Test func portsParseAsKubectlWritesThem() throws {
        #expect(try ServicePort.parse("80") == ServicePort(port: 80, targetPort: 80, proto: "tcp"))
        #expect(try ServicePort.parse("53:5353/udp") == ServicePort(port: 53, targetPort: 5353, proto: "udp"))
        #expect(try ServicePort.parse("80:8080/TCP").proto == "tcp")
        for bad in ["0", "65536", "80:", ":80", "80/sctp", "a:b", "+80", "1:2:3", "80\n/tcp", ""] {
            #expect(throws: ServiceError.self, "\(bad)") { try ServicePort.parse(bad) }
        }
    }

    @Test func namesAreDNSLabels() {
        for ok in ["web", "web-service", "a1"] { #expect(Services.isServiceName(ok)) }
        for bad in ["", "Web", "web_1", "-web", "web-", "1web", "we.b", String(repeating: "a", count: 64), "web\n"] {
            #expect(!Services.isServiceName(bad), "\(bad)")
        }
    }

    @Test func aServiceBalancesOverItsEndpointsAndMarksHairpins() {
        let (script, installed) = ServiceRules.transaction(Self.service(nodePort: 30080), endpoints: [Self.a, Self.b], old: .init(), range: "10.96.0.0/24")
        let chain = "add rule inet minirt svc-abcdef-web/tcp/80"
        let rules = script.split(separator: "\n").filter { $0.hasPrefix(chain) }.map { String($0.dropFirst(chain.count + 1)) }
        // A cascade of odds (1/2, then all of the rest), each pick split on "the client is this endpoint".
        #expect(rules == [
            "meta l4proto tcp ip saddr 10.66.0.2 numgen random mod 2 0 meta mark set meta mark | \(ServiceRules.hairpinMark) dnat ip to 10.66.0.2:8080",
            "meta l4proto tcp ip saddr != 10.66.0.2 numgen random mod 2 0 dnat ip to 10.66.0.2:8080",
            "meta l4proto tcp ip saddr 10.66.0.3 meta mark set meta mark | \(ServiceRules.hairpinMark) dnat ip to 10.66.0.3:8080",
            "meta l4proto tcp ip saddr != 10.66.0.3 dnat ip to 10.66.0.3:8080",
        ], "\(rules)")
        #expect(script.contains("add element inet minirt service-ips { 10.96.0.10 . tcp . 80 : goto svc-abcdef-web/tcp/80 }"))
        #expect(script.contains("add element inet minirt node-ports { tcp . 30080 : goto svc-abcdef-web/tcp/80 }"))
        #expect(script.contains("add element inet minirt service-ranges { 10.96.0.0/24 }"))
        #expect(!script.contains("delete"), "nothing to delete on a first install")
        // One chain per service port and no set: nft loads every chain and set before each change.
        #expect(installed.chains == ["svc-abcdef-web/tcp/80"] && installed.sets.isEmpty && !script.contains("{ 0 :"))
        #expect(installed.elements.count == 2 && installed.endpoints == [Self.a, Self.b])
    }

    /// The cascade gives each of N endpoints 1/N: endpoint k is picked with
    /// 1/(N-k) of what the earlier ones left.
    @Test func theCascadeIsUniform() {
        let eps = (2...6).map { ServiceEndpoint(id: "\($0)", name: "w\($0)", address: "10.66.0.\($0)") }
        let (script, _) = ServiceRules.transaction(Self.service(), endpoints: eps, old: .init(), range: nil)
        let mods = script.split(separator: "\n").filter { $0.contains("ip saddr != ") }.map { line -> Int in
            guard let r = line.range(of: "numgen random mod ") else { return 1 }
            return Int(line[r.upperBound...].prefix { $0.isNumber })!
        }
        #expect(mods == [5, 4, 3, 2, 1])
        var left = 1.0
        for m in mods {
            let p = left / Double(m)
            #expect(abs(p - 0.2) < 1e-9)
            left -= p
        }
    }

    @Test func anEndpointLeavingRewritesOnlyItsServiceChain() {
        let d = Self.service()
        let old = ServiceRules.objects(d, endpoints: [Self.a, Self.b])
        let (script, new) = ServiceRules.transaction(d, endpoints: [Self.a], old: old, range: nil)
        #expect(script.contains("flush chain inet minirt svc-abcdef-web/tcp/80"))
        #expect(!script.contains("10.66.0.3") && !script.contains("numgen"), "one endpoint left: no pick")
        #expect(script.split(separator: "\n").filter { $0.hasPrefix("delete") }.isEmpty)
        #expect(new.chains == ["svc-abcdef-web/tcp/80"] && new.endpoints == [Self.a])
        // No endpoint: the service chain stays empty, the new connection falls to reject-unserved.
        let (none, _) = ServiceRules.transaction(d, endpoints: [], old: new, range: nil)
        #expect(!none.contains("add rule") && none.contains("flush chain inet minirt svc-abcdef-web/tcp/80"))
    }

    /// A table written by an older minirt (an endpoint chain per endpoint) is
    /// taken apart by the next change: the recorded chains are flushed, then deleted.
    @Test func endpointChainsOfAnOlderLayoutAreDeleted() {
        let d = Self.service()
        var old = ServiceRules.objects(d, endpoints: [Self.a])
        old.chains.append("ep-abcdef-web/tcp/80/10.66.0.2/8080")
        let (script, new) = ServiceRules.transaction(d, endpoints: [Self.a], old: old, range: nil)
        let flush = script.range(of: "flush chain inet minirt svc-abcdef-web/tcp/80")!
        let delete = script.range(of: "delete chain inet minirt ep-abcdef-web/tcp/80/10.66.0.2/8080")!
        #expect(flush.lowerBound < delete.lowerBound)
        #expect(new.chains == ["svc-abcdef-web/tcp/80"])
    }

    @Test func removalDeletesEverythingEvenWhatMayNeverHaveBeenInstalled() {
        let d = Self.service(affinity: "ClientIP", nodePort: 30080)
        let old = ServiceRules.objects(d, endpoints: [Self.a])
        let (script, new) = ServiceRules.transaction(d, endpoints: [], old: old, remove: true, range: nil)
        #expect(new == InstalledService())
        let lines = script.split(separator: "\n").map(String.init)
        // Each delete is preceded by an add of the same object: a record written before a
        // crash (a superset) never makes the transaction fail on a missing object.
        for (i, l) in lines.enumerated() where l.hasPrefix("delete element") {
            #expect(lines[i - 1].hasPrefix("add element"), "\(l)")
        }
        for (i, l) in lines.enumerated() where l.hasPrefix("delete set") { #expect(lines[i - 1].hasPrefix("add set"), "\(l)") }
        for c in old.chains { #expect(lines.contains("add chain inet minirt \(c)") && lines.contains("delete chain inet minirt \(c)")) }
        #expect(lines.filter { $0.hasPrefix("delete element") }.count == 2)
        #expect(lines.contains("delete set inet minirt aff-abcdef-web/tcp/80/10.66.0.2/8080"))
    }

    @Test func clientIPAffinityKeepsAClientOnItsEndpoint() {
        let (script, installed) = ServiceRules.transaction(Self.service(affinity: "ClientIP"), endpoints: [Self.a, Self.b], old: .init(), range: nil)
        let set = "aff-abcdef-web/tcp/80/10.66.0.2/8080"
        #expect(installed.sets == [set, "aff-abcdef-web/tcp/80/10.66.0.3/8080"])
        #expect(script.contains("add rule inet minirt svc-abcdef-web/tcp/80 meta l4proto tcp ip saddr != 10.66.0.2 ip saddr @\(set) update @\(set) { ip saddr } dnat ip to 10.66.0.2:8080"))
        #expect(script.contains("numgen random mod 2 0 update @\(set) { ip saddr } dnat ip to 10.66.0.2:8080"))
        #expect(script.contains("timeout 10800s"))
        // Affinity is checked before the random pick.
        #expect(script.range(of: "ip saddr @aff")!.lowerBound < script.range(of: "numgen")!.lowerBound)
    }

    @Test func aHeadlessServiceHasNoRules() {
        var d = Self.service()
        d.clusterIP = ""
        let (script, installed) = ServiceRules.transaction(d, endpoints: [Self.a], old: .init(), range: nil)
        #expect(!script.contains("add rule") && installed.chains.isEmpty && installed.endpoints == [Self.a])
    }

    @Test func selectorsAndTargetsPickContainers() {
        var r = ContainerRecord(id: StateStore.newID(), name: "web1", created: .now(), image: "busybox", rootfs: "/r",
                                path: "true", args: [], config: .init(hostname: "h", image: "busybox"),
                                hostConfig: .init(networkMode: "apps"))
        r.config.labels = ["app": "web", "tier": "front"]
        var d = Self.service()
        #expect(d.selects(r))
        d.selector = ["app": "web", "tier": "back"]
        #expect(!d.selects(r))
        d.selector = [:]
        d.targets = ["web1"]
        #expect(d.selects(r))
        d.targets = [String(r.id.prefix(4))]
        #expect(!d.selects(r), "a 4-character id prefix is too short to name a container")
    }

    @Test func containersOnBridgeNetworksGetKubeletsSearchList() {
        let r = DNSFiles.resolvConf(host: "nameserver 1.1.1.1\nsearch corp.example\n", upstream: nil, dns: [], search: [], options: [],
                                    keepLoopback: false, networkServer: "10.66.0.1", networkDomain: "apps", clusterDomain: "k8s.test")
        #expect(r.contains("search apps.svc.k8s.test svc.k8s.test k8s.test apps corp.example\n"))
        #expect(r.contains("nameserver 10.66.0.1\n") && r.contains("options ndots:5\n"))
        let own = DNSFiles.resolvConf(host: "", upstream: nil, dns: [], search: ["x.test"], options: ["ndots:1"],
                                      keepLoopback: false, networkServer: "10.66.0.1", networkDomain: "apps")
        #expect(own.contains("search x.test\n") && own.contains("options ndots:1\n"))
    }

    @Test func aDefinitionEditedByHandCannotReachTheRules() {
        var d = Self.service()
        d.id = String(repeating: "ab", count: 32)
        #expect(d.isWellFormed)
        var bad = d
        bad.clusterIP = "10.96.0.10 . tcp . 80 : accept }\nadd rule inet minirt services accept"
        #expect(!bad.isWellFormed)
        bad = d; bad.name = "web\nflush ruleset"
        #expect(!bad.isWellFormed)
        bad = d; bad.ports[0].proto = "tcp dnat to 1.2.3.4"
        #expect(!bad.isWellFormed)
        bad = d; bad.id = "abc;x"
        #expect(!bad.isWellFormed)
        bad = d; bad.sessionAffinity = "ClientIP; flush"
        #expect(!bad.isWellFormed)
    }
}
