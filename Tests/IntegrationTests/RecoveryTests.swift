import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Races and broken state: rm racing a start, a truncated state.json, a
/// container folder deleted by hand. Each ends with nothing left (finish()).
@Suite struct RecoveryTests {
    func lease(_ s: Sandbox, of id: String) -> [String] {
        let leases = (try? FileManager.default.subpathsOfDirectory(atPath: s.root + "/.ipam")) ?? []
        return leases.filter { path in
            !path.contains("last_reserved") && !path.hasSuffix("lock") && path.contains("/")
                && ((try? String(contentsOfFile: s.root + "/.ipam/" + path, encoding: .utf8)) ?? "").hasPrefix(id)
        }
    }

    /// `rm -f NAME` racing `run -d --name NAME -p …`: whichever wins, no DNAT or
    /// FORWARD rule, lease or pin outlives the pair (it took six races to leak before).
    @Test func rmRacingRunLeavesNothing() throws {
        let s = try Sandbox()
        for round in 0..<6 {
            let run = try s.start(["run", "-d", "--name", "race", "-p", "8095:80", "busybox", "sleep", "300"])
            // From right away to well into the CNI ADD (~100-200 ms here).
            usleep(UInt32(round * 40_000))
            var removed = false
            for _ in 0..<100 where !removed {
                removed = try s.minirt("rm", "-f", "race").status == 0
                if !removed { usleep(2_000) }
            }
            run.waitUntilExit()
            _ = try s.minirt("rm", "-f", "race")
        }
        #expect(try s.minirt("ls", "-aq").stdout.isEmpty)
        let nat = try s.host("iptables", "-t", "nat", "-S").lines.filter { $0.contains("CNI-DN-") }
        #expect(nat.isEmpty, "DNAT rules left: \(nat)")
        try s.finish()
    }

    @Test func truncatedStateIsShownAndRemovable() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "broken", "-p", "8096:80", "busybox", "sleep", "300").status == 0)
        let id = try s.id(of: "broken")
        try #require(!lease(s, of: id).isEmpty)
        try Data("{\"Id\": \"tru".utf8).write(to: URL(fileURLWithPath: "\(s.root)/\(id)/state.json"))
        let ls = try s.minirt("ls", "-a")
        #expect(ls.stdout.contains(String(id.prefix(12))) && ls.stdout.contains("Broken"), "ls -a hides it: \(ls.stdout)")
        let inspect = try s.minirt("inspect", "broken")
        #expect(inspect.status == 1 && inspect.stderr.contains("unreadable") && inspect.stderr.contains("rm -f"), "\(inspect.stderr)")
        let rm = try s.minirt("rm", "-f", "broken")
        #expect(rm.status == 0, "\(rm.stderr)")
        #expect(lease(s, of: id).isEmpty, "the lease stayed")
        #expect(access("/var/run/netns/minirt-\(id.prefix(12))", F_OK) != 0, "the pin stayed")
        try s.finish()
    }

    /// The folder deleted by hand while the container runs: gc frees nothing of
    /// it (its lease, pin and name stay taken), rm -f ID removes it; once its
    /// processes are dead, gc alone releases what it left.
    @Test func deletedFolderIsNeverFreedWhileAliveAndIsRecoverable() throws {
        let s = try Sandbox()
        for removeBy in ["rm", "gc"] {
            try #require(try s.minirt("run", "-d", "--name", "lost", "-p", "8097:80", "busybox", "sleep", "300").status == 0)
            let id = try s.id(of: "lost")
            let pid = try s.waitForPid("lost")
            let supervisor = Int32(try s.minirt("inspect", "-f", "{{.State.SupervisorPid}}", "lost").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            try FileManager.default.removeItem(atPath: "\(s.root)/\(id)")
            let gc = try s.minirt("system", "gc")
            #expect(gc.status == 0 && gc.stdout.contains("still runs"), "\(gc.stdout) \(gc.stderr)")
            #expect(!lease(s, of: id).isEmpty, "gc released a live container's lease")
            #expect(access("/var/run/netns/minirt-\(id.prefix(12))", F_OK) == 0)
            #expect(access("\(s.root)/.names/lost", F_OK) != 0 || (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(s.root)/.names/lost")) == id)
            if removeBy == "rm" {
                let rm = try s.minirt("rm", "-f", String(id.prefix(12)))
                #expect(rm.status == 0, "\(rm.stderr)")
            } else {
                if supervisor > 0 { kill(supervisor, SIGKILL) }
                kill(pid, SIGKILL)
                for _ in 0..<250 where kill(pid, 0) == 0 { usleep(20_000) }
                // A fresh lease with a pin is a start under way for gc: age it past its minute.
                for path in lease(s, of: id) {
                    var times = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
                    utimes(s.root + "/.ipam/" + path, &times)
                }
                let again = try s.minirt("system", "gc")
                #expect(again.stdout.contains("released what container \(id.prefix(12)) left"), "\(again.stdout)")
            }
            #expect(lease(s, of: id).isEmpty, "\(removeBy): the lease stayed")
            #expect(access("/var/run/netns/minirt-\(id.prefix(12))", F_OK) != 0, "\(removeBy): the pin stayed")
            let nat = try s.host("iptables", "-t", "nat", "-S").lines.filter { $0.contains(id) }
            #expect(nat.isEmpty, "\(removeBy): rules left: \(nat)")
        }
        try s.finish()
    }
}

/// Two state roots on one host and one network config folder: one lease pool
/// and one DNS server for the network (those of the store that wrote it), and
/// neither store's gc frees what the other's live containers hold.
@Suite struct TwoStoresTests {
    @Test func twoRootsShareANetworkSafely() throws {
        let s = try Sandbox()
        let other = s.root + "/.second-root"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        var env = s.environment
        env["MINIRT_ROOT"] = other
        func second(_ args: String...) throws -> Outcome {
            try Sandbox.exec(s.command.0, s.command.1 + args, env: env)
        }
        try #require(try s.minirt("run", "-d", "--name", "first", "busybox", "sleep", "300").status == 0)
        let b = try second("run", "-d", "--name", "second", "busybox", "sleep", "300")
        try #require(b.status == 0, "\(b.stderr)")
        let ipA = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "first").stdout
        let ipB = try second("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "second").stdout
        #expect(!ipA.isEmpty && ipA != ipB, "one pool: \(ipA) vs \(ipB)")
        // One DNS server answers for both stores' containers.
        let look = try second("exec", "second", "nslookup", "first")
        #expect(look.stdout.contains(ipA.trimmingCharacters(in: .whitespacesAndNewlines)), "\(look.stdout) \(look.stderr)")
        // Each store's gc leaves the other's live container alone.
        for gc in [try s.minirt("system", "gc"), try second("system", "gc")] { #expect(gc.status == 0, "\(gc.stderr)") }
        let leases = (try? FileManager.default.subpathsOfDirectory(atPath: s.root + "/.ipam/bridge")) ?? []
        #expect(leases.filter { $0.first?.isNumber == true && !$0.hasPrefix("last") }.count == 2, "gc freed a live lease: \(leases)")
        #expect(try second("exec", "second", "nslookup", "first").stdout.contains(ipA.trimmingCharacters(in: .whitespacesAndNewlines)),
                "gc dropped the other store's names")
        #expect(try second("rm", "-f", "second").status == 0)
        #expect(try s.minirt("rm", "-f", "first").status == 0)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: other)) ?? []).filter { !$0.hasPrefix(".") }
        #expect(left.isEmpty, "the second store kept \(left)")
        try s.finish()
    }
}
