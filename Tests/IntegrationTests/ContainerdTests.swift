import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's containerd (its runc v2 shim) driving minirt through
/// `ctr --runc-binary`: a private containerd (own root, state and sockets)
/// started by the test and stopped by its pid.
@Suite(.serialized) struct ContainerdTests {
    @Test func containerdRunsTasksWithMinirt() throws {
        let s = try Sandbox()
        let dir = s.root + "/.containerd"
        try FileManager.default.createDirectory(atPath: dir + "/rootfs", withIntermediateDirectories: true)
        try #require(try Sandbox.exec("/bin/cp", ["-a", "\(Sandbox.images)/busybox/rootfs/.", dir + "/rootfs/"]).status == 0)
        try #require(symlink(s.binary, dir + "/minirt-runc") == 0)
        try """
            version = 2
            root = "\(dir)/root"
            state = "\(dir)/state"
            [grpc]
              address = "\(dir)/containerd.sock"
            [ttrpc]
              address = "\(dir)/containerd-ttrpc.sock"
            [plugins."io.containerd.grpc.v1.cri"]
              disable_cgroup = true
            """.write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        let log = FileHandle(forWritingAtPath: "/dev/null")
        let daemon = try Child("/usr/bin/nsenter", ["--net=/run/netns/\(s.netns!)", "--", "/usr/bin/containerd", "--config", dir + "/config.toml"],
                               env: s.environment, stdin: nil, stdout: log, stderr: log)
        // The namespace names the shim's runc root (/run/containerd/runc/NS) and the cgroups (/NS/ID).
        let ns = "minirt-\(getpid())"
        // containerd makes /run/containerd/{fifo,s,runc} for its shims: empty afterwards, and removed if this test made them.
        let hadRunDir = access("/run/containerd", F_OK) == 0
        defer {
            kill(daemon.processIdentifier, SIGTERM)
            daemon.waitUntilExit()
            _ = try? Sandbox.exec("/bin/rm", ["-rf", "/run/containerd/runc/\(ns)"])
            for h in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] { rmdir("/sys/fs/cgroup/\(h)/\(ns)") }
            if !hadRunDir { for d in ["fifo", "s", "runc", ""] { rmdir("/run/containerd/\(d)") } }
        }
        func ctr(_ args: String...) throws -> Outcome {
            try Sandbox.exec("/usr/bin/ctr", ["--address", dir + "/containerd.sock", "--namespace", ns] + args)
        }
        var up = false
        for _ in 0..<200 where !up {
            up = (try? ctr("version").status) == 0
            if !up { usleep(50_000) }
        }
        try #require(up, "containerd did not come up")
        let runtime = ["--runc-binary", dir + "/minirt-runc", "--rootfs", dir + "/rootfs"]

        let once = try Sandbox.exec("/usr/bin/ctr", ["--address", dir + "/containerd.sock", "--namespace", ns, "run", "--rm"] + runtime
                                    + ["t1", "sh", "-c", "echo hello-from-ctr; exit 4"])
        #expect(once.status == 4 && once.stdout == "hello-from-ctr\n", "\(once.status) \(once.stdout) \(once.stderr)")

        let detached = try Sandbox.exec("/usr/bin/ctr", ["--address", dir + "/containerd.sock", "--namespace", ns, "run", "-d"] + runtime
                                        + ["t2", "sleep", "300"])
        try #require(detached.status == 0, "\(detached.stderr)")
        #expect(try ctr("task", "ls").stdout.contains("RUNNING"))
        let exec = try ctr("task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo in-exec; exit 2")
        #expect(exec.status == 2 && exec.stdout == "in-exec\n", "\(exec.stdout) \(exec.stderr)")
        #expect(try ctr("task", "ps", "t2").lines.count == 2, "the init alone")
        #expect(try ctr("task", "pause", "t2").status == 0)
        #expect(try ctr("task", "ls").stdout.contains("PAUSED"))
        #expect(try ctr("task", "resume", "t2").status == 0)
        #expect(try ctr("task", "kill", "-s", "SIGKILL", "t2").status == 0)
        var stopped = false
        for _ in 0..<100 where !stopped {
            stopped = try ctr("task", "ls").stdout.contains("STOPPED")
            if !stopped { usleep(50_000) }
        }
        #expect(stopped)
        #expect(try ctr("task", "delete", "t2").status == 0)
        #expect(try ctr("container", "rm", "t2").status == 0)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/containerd/runc/\(ns)")) ?? []).filter { !$0.hasPrefix(".") }
        #expect(left.isEmpty, "minirt's oci root kept \(left)")
        try s.finish()
    }
}
