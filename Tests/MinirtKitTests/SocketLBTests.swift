import Testing
@testable import MinirtEngine
@testable import MinirtKit
@testable import MinirtState

/// The connect-time balancer's pure parts: which ports it serves, the map keys
/// as the program reads them from bpf_sock_addr, and the program's jumps (the
/// kernel's verifier checks the rest when ServiceTests load it).
@Suite struct SocketLBTests {
    static func service(_ ports: [ServicePort], affinity: String = "None", vip: String = "10.96.0.10") -> ServiceDefinition {
        ServiceDefinition(id: "abcdef0123456789", name: "web", network: "apps", clusterIP: vip, ports: ports,
                          selector: ["app": "web"], targets: [], sessionAffinity: affinity, stateRoot: "/r", created: "")
    }

    @Test func onlyTCPPortsWithoutAffinityTakeTheConnectPath() {
        let tcp = ServicePort(port: 80, targetPort: 8080, proto: "tcp", nodePort: 30080)
        let udp = ServicePort(port: 53, targetPort: 5353, proto: "udp", nodePort: nil)
        let keys = Services.socketKeys(Self.service([tcp, udp]), world: 7)
        #expect(keys.map(\.key) == [SocketLB.ServiceKey(world: 7, address: "10.96.0.10", port: 80)])
        #expect(Services.socketKeys(Self.service([tcp], affinity: "ClientIP"), world: 7).isEmpty)
        #expect(Services.socketKeys(Self.service([tcp], vip: ""), world: 7).isEmpty, "headless")
    }

    @Test func keysAreLaidOutAsTheProgramReadsThem() throws {
        // world (u64, host order), user_ip4 (network order), user_port (network order in the low 16 bits).
        let k = try #require(SocketLB.serviceKey(.init(world: 0x0102, address: "10.96.0.1", port: 8080)))
        #expect(k == [0x02, 0x01, 0, 0, 0, 0, 0, 0, 10, 96, 0, 1, 0x1f, 0x90, 0, 0])
        #expect(SocketLB.serviceKey(.init(world: 1, address: "10.96.0.256", port: 80)) == nil)
        #expect(SocketLB.serviceKey(.init(world: 1, address: "10.96.0", port: 80)) == nil)
        #expect(SocketLB.serviceKey(.init(world: 1, address: "10.96.0.1\n", port: 80)) == nil)
        #expect(SocketLB.serviceKey(.init(world: 1, address: "10.96.+0.1", port: 80)) == nil)
        #expect(SocketLB.u64(SocketLB.bytes(u64: 0xdead_beef_0102_0304), 0) == 0xdead_beef_0102_0304)
    }

    @Test func everyBailOutJumpsToTheAllowingExit() {
        let p = SocketLB.program(worlds: 3, services: 4, backends: 5, peers: 6)
        #expect(p.count == 58)
        let last = p.count - 2
        #expect(p[last] & 0xff == 0xb7 && p[last] >> 32 == 1, "r0 = 1: the program never refuses a connect")
        #expect(p[p.count - 1] & 0xff == 0x95)
        var jumps = 0
        for (i, insn) in p.enumerated() where [0x56, 0x15].contains(insn & 0xff) {
            let off = Int(Int16(bitPattern: UInt16(truncatingIfNeeded: insn >> 16)))
            #expect(i + 1 + off == last, "jump at \(i)")
            jumps += 1
        }
        #expect(jumps == 6)
        // Each map is loaded by fd (ld_imm64 with BPF_PSEUDO_MAP_FD), in the order the lookups need them.
        let maps = p.enumerated().filter { $0.element & 0xff == 0x18 }.map { (Int32(truncatingIfNeeded: $0.element >> 32), ($0.element >> 12) & 0xf) }
        #expect(maps.map(\.0) == [3, 4, 5, 6] && maps.allSatisfy { $0.1 == 1 })
        // The peer entry is written last, after both fields of the context are rewritten.
        let calls = p.enumerated().filter { $0.element & 0xff == 0x85 }.map { Int32(truncatingIfNeeded: $0.element >> 32) }
        #expect(calls == [122, 1, 1, 7, 1, 46, 2], "netns cookie, lookups, random, socket cookie, update")
    }

    @Test func getpeernameRewritesOnlyWhatItFindsAndAlwaysAllows() {
        let p = SocketLB.peerProgram(peers: 9)
        #expect(p[p.count - 2] & 0xff == 0xb7 && p[p.count - 2] >> 32 == 1 && p[p.count - 1] & 0xff == 0x95)
        let jumps = p.enumerated().filter { $0.element & 0xff == 0x15 }
        #expect(jumps.count == 1)
        for (i, insn) in jumps {
            #expect(i + 1 + Int(Int16(bitPattern: UInt16(truncatingIfNeeded: insn >> 16))) == p.count - 2, "a miss leaves the peer as it is")
        }
        #expect(p.filter { $0 & 0xff == 0x18 }.map { Int32(truncatingIfNeeded: $0 >> 32) } == [9])
        // Two stores into the context (user_ip4 at 4, user_port at 24), both after the lookup.
        let stores = p.enumerated().filter { $0.element & 0xff == 0x63 && ($0.element >> 8) & 0xf == 6 }
        #expect(stores.map { Int16(bitPattern: UInt16(truncatingIfNeeded: $0.element >> 16)) } == [4, 24])
        #expect(stores.allSatisfy { $0.offset > jumps[0].offset })
    }
}
