import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `minirt update` and `minirt oci update`: new limits in a live container's cgroup.
@Suite struct UpdateTests {
    func cgroupFile(_ id: String, _ controller: String, _ file: String) -> String {
        let v1 = "/sys/fs/cgroup/\(controller)/minirt/\(id)/\(file)"
        return ((try? String(contentsOfFile: v1, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func dockerUpdateChangesALiveContainer() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(try s.minirt("run", "-d", "--name", "u", "--network", "none", "-m", "64m", "--pids-limit", "50", "busybox", "sleep", "300").status == 0)
        let id = try s.id(of: "u")
        let o = try s.minirt("update", "-m", "96m", "--memory-swap", "-1", "--pids-limit", "70", "--cpus", "0.5", "--restart", "on-failure:2", "u")
        #expect(o.status == 0 && o.stdout == "u\n", "\(o.stderr)")
        let inside = try s.minirt("exec", "u", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max")
        if inside.status == 0 && !inside.stdout.isEmpty {
            #expect(inside.lines == ["\(96 * 1024 * 1024)", "70"], "\(inside.stdout)")
        } else {
            #expect(cgroupFile(id, "memory", "memory.limit_in_bytes") == "\(96 * 1024 * 1024)")
            #expect(cgroupFile(id, "pids", "pids.max") == "70")
        }
        #expect(try s.minirt("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}", "u").stdout
                == "\(96 * 1024 * 1024) 70 on-failure\n")
        // The next start keeps them: config.json was updated too.
        let spec = try String(contentsOfFile: "\(s.root)/\(id)/config.json", encoding: .utf8)
        #expect(spec.contains("\"limit\":\(96 * 1024 * 1024)"), "config.json keeps the new limit")
        let bad = try s.minirt("update", "-m", "1k", "u")
        #expect(bad.status == 1 && bad.stderr.contains("below the minimum"), "\(bad.stderr)")
        try s.minirt("rm", "-f", "u")
        try s.finish()
    }

    @Test func ociUpdateWritesTheCgroup() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try OCITests.bundle(s, name: "upd", specBy: [s.binary, "oci"], args: ["sleep", "300"])
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var linux = config["linux"] as? [String: Any] ?? [:]
        let cgroup = "/minirt-oci-\(getpid())"
        linux["cgroupsPath"] = cgroup
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let oci = [s.binary, "oci", "--root", s.root + "/.oci"]
        let create = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>&1"] + oci + ["create", "--bundle", dir, "u1"])
        try #require(create.status == 0)
        try #require(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["start", "u1"]).status == 0)
        let resources = s.root + "/.resources.json"
        try #"{"memory": {"limit": 52428800}, "pids": {"limit": 33}}"#.write(toFile: resources, atomically: true, encoding: .utf8)
        let up = try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["update", "--resources", resources, "u1"])
        #expect(up.status == 0, "\(up.stderr)")
        let mem = (try? String(contentsOfFile: "/sys/fs/cgroup/memory\(cgroup)/memory.limit_in_bytes", encoding: .utf8)) ?? ""
        let pids = (try? String(contentsOfFile: "/sys/fs/cgroup/pids\(cgroup)/pids.max", encoding: .utf8)) ?? ""
        #expect(mem == "52428800\n" && pids == "33\n", "\(mem) \(pids)")
        #expect(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["update", "--pids-limit", "44", "u1"]).status == 0)
        #expect((try? String(contentsOfFile: "/sys/fs/cgroup/pids\(cgroup)/pids.max", encoding: .utf8)) == "44\n")
        #expect(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["delete", "--force", "u1"]).status == 0)
        #expect(access("/sys/fs/cgroup/pids\(cgroup)", F_OK) != 0, "delete removes the cgroup")
        for h in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] { rmdir("/sys/fs/cgroup/\(h)\(cgroup)") }
        try s.finish()
    }
}
