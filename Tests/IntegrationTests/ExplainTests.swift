import Foundation
import Testing

/// `minirt explain`: the packet path read back from the kernel.
@Suite struct ExplainTests {
    @Test func explainsABridgedContainerWithAPublishedPort() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "web", "-p", "8080:80", "busybox", "httpd", "-f", "-p", "80").status == 0)
        let id = try s.id(of: "web")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let o = try s.minirt("explain", "--format", "json", "web")
        #expect(o.status == 0, "\(o.stderr)")
        let doc = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any]
        let items = (doc?["items"] as? [[String: Any]]) ?? []
        func lines(_ title: String) -> [String] {
            items.first { ($0["title"] as? String)?.hasPrefix(title) == true }?["lines"] as? [String] ?? []
        }
        #expect(doc?["id"] as? String == id)
        #expect(lines("network namespace").first?.contains("/var/run/netns/minirt-\(id.prefix(12))") == true)
        #expect(lines("interfaces inside").contains { $0.hasPrefix("eth0: \(ip)/") && $0.contains("veth peer is host interface") })
        #expect(lines("routes inside").contains { $0.hasPrefix("default via ") })
        #expect(lines("veth pair").contains { $0.contains("plugged into the bridge minirt0") })
        #expect(lines("outbound NAT").contains { $0.contains("MASQUERADE") && $0.contains(id) })
        #expect(lines("published ports").contains { $0.contains("DNAT --to-destination \(ip):80") })
        #expect(lines("CNI plugin calls").contains { $0.hasPrefix("ADD bridge eth0 -> \(ip)") })
        #expect(lines("minirt's own rules").contains { $0.contains("ip daddr 127.0.0.0/8") && $0.contains("drop") },
                "the loopback guard: \(lines("minirt's own rules"))")
        // Every part says how to look at it by hand.
        #expect(items.allSatisfy { !(($0["command"] as? String) ?? "").isEmpty })
        let text = try s.minirt("explain", "web")
        #expect(text.stdout.contains("$ ip -n minirt-\(id.prefix(12)) route"), "\(text.stdout)")
        try s.minirt("stop", "-t", "1", "web")
        let stopped = try s.minirt("explain", "web")
        #expect(stopped.status == 1 && stopped.stderr.contains("is not running"), "\(stopped.stderr)")
        try s.minirt("rm", "web")
        // Without a pin (--network none) it looks through the init's own namespace.
        try #require(try s.minirt("run", "-d", "--name", "alone", "--network", "none", "busybox", "sleep", "30").status == 0)
        _ = try s.id(of: "alone")
        let alone = try s.minirt("explain", "alone")
        #expect(alone.stdout.contains("lo: 127.0.0.1/8") && alone.stdout.contains("nsenter --net=/proc/"), "\(alone.stdout)")
        try s.minirt("rm", "-f", "alone")
        try s.finish()
    }
}
