import Foundation
import Testing

/// `run --userns auto` (issue 13, podman's auto): the container's ids 0-65535
/// are host ids of its own, its image and writable layer belong to them, and
/// its root is nobody to the host: a bind-mounted host file it does not own
/// stays unwritable. exec joins the namespace; the range goes with rm.
@Suite struct UserNamespaceTests {
    static let markers = "/var/run/minirt-userns"

    func marker(of id: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.markers)) ?? []
        return names.first { (try? String(contentsOfFile: "\(Self.markers)/\($0)", encoding: .utf8))?.hasPrefix(id) == true }
    }

    @Test func ownIdsOwnLayersAndNothingOfTheHosts() throws {
        let s = try Sandbox()
        // The state root must let the container's (unprivileged) root through; a 0700 one is refused clearly.
        let closed = try s.minirt("run", "--rm", "--userns", "auto", "busybox", "true")
        #expect(closed.status == 125 && closed.stderr.contains("not searchable"), "\(closed.stderr)")
        chmod(s.root, 0o711)
        let hostDir = s.root + "/.host-owned"
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        try Data("host\n".utf8).write(to: URL(fileURLWithPath: hostDir + "/file"))
        chmod(hostDir + "/file", 0o644)
        chmod(hostDir, 0o755)

        let run = try s.minirt("run", "-d", "--name", "u1", "--userns", "auto", "-v", "\(hostDir):/host", "-v", "/scratch", "busybox", "sleep", "300")
        #expect(run.status == 0, "\(run.stderr)")
        let id = try s.id(of: "u1")
        let pid = try s.waitForPid("u1")
        let map = try String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8).split(separator: " ", omittingEmptySubsequences: true)
        #expect(map.count == 3 && map[0] == "0" && map[2].hasPrefix("65536"), "\(map)")
        let base = UInt32(map.count > 1 ? map[1] : "0") ?? 0
        #expect(base >= 65536, "container root is host id \(base)")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Uid:\t\(base)\t"), "the init is not the range's first id on the host")
        #expect(marker(of: id) == String(base), "no marker for the range")

        // Inside: root, owning its image and what it writes.
        let inside = try s.minirt("exec", "u1", "sh", "-c", "id -u; stat -c %u /bin/busybox; touch /new; stat -c %u /new; echo x >> /etc/hosts && echo hosts-ok; touch /scratch/f && echo volume-ok")
        #expect(inside.stdout == "0\n0\n0\nhosts-ok\nvolume-ok\n", "\(inside.stdout)\(inside.stderr)")
        // A foreground run, and a restart, keep the namespace.
        let fg = try s.minirt("run", "--rm", "--userns", "auto", "--network", "none", "busybox", "sh", "-c", "cat /proc/self/uid_map; id -u")
        #expect(fg.status == 0 && fg.stdout.hasSuffix("\n0\n") && !fg.stdout.hasPrefix("         0          0"), "\(fg.stdout)\(fg.stderr)")
        var st = stat()
        #expect(lstat("\(s.root)/\(id)/upper/new", &st) == 0 && st.st_uid == base, "the writable layer's file is not the range's root")

        // The host's file, bind-mounted: root inside is nobody to it.
        let attack = try s.minirt("exec", "u1", "sh", "-c", "echo owned > /host/file")
        #expect(attack.status != 0, "container root wrote a host-owned file")
        #expect(try String(contentsOfFile: hostDir + "/file", encoding: .utf8) == "host\n")
        #expect(try s.minirt("exec", "u1", "stat", "-c", "%u", "/host/file").stdout == "65534\n", "the host's root is not nobody inside")

        // A second container gets another range.
        #expect(try s.minirt("run", "-d", "--name", "u2", "--userns", "auto", "busybox", "sleep", "300").status == 0)
        let id2 = try s.id(of: "u2")
        let pid2 = try s.waitForPid("u2")
        let map2 = try String(contentsOfFile: "/proc/\(pid2)/uid_map", encoding: .utf8).split(separator: " ", omittingEmptySubsequences: true)
        #expect(map2.count == 3 && UInt32(map2[1]) != base, "two containers share a range: \(map2)")

        // Refused: one line, exit 125, no marker left.
        for args in [["--userns", "auto", "--privileged"], ["--userns", "auto", "--network", "host"], ["--userns", "auto", "--pid", "host"],
                     ["--userns", "keep-id"]] {
            let o = try s.minirt(["run", "--rm"] + args + ["busybox", "true"])
            #expect(o.status == 125 && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        let markersBefore = (try? FileManager.default.contentsOfDirectory(atPath: Self.markers))?.filter { $0.first?.isNumber == true }.count ?? 0
        #expect(markersBefore >= 2)

        for verb in [["commit", "u2", "u2-image"], ["export", "u2"]] {
            let o = try s.minirt(verb)
            #expect(o.status != 0 && o.stderr.contains("--userns auto"), "\(verb): \(o.stderr)")
        }
        #expect(try s.minirt("restart", "-t", "0", "u2").status == 0)
        let again = try s.waitForPid("u2")
        #expect(try String(contentsOfFile: "/proc/\(again)/uid_map", encoding: .utf8).split(separator: " ", omittingEmptySubsequences: true) == map2)
        try s.minirt("rm", "-f", "-v", "u1", "u2")
        #expect(marker(of: id) == nil && marker(of: id2) == nil, "rm left the ranges taken")

        // A marker whose container is gone (a crash between the two) is gc's.
        let ghost = String(repeating: "f", count: 64)
        let stale = "\(Self.markers)/2147287040"
        try Data("\(ghost) \(s.root)\n".utf8).write(to: URL(fileURLWithPath: stale))
        var old = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
        utimes(stale, &old)
        let gc = try s.minirt("system", "gc")
        #expect(gc.stdout.contains("freed the user namespace range 2147287040"), "\(gc.stdout)")
        #expect(access(stale, F_OK) != 0)
        try s.finish()
    }
}
