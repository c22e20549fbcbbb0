import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `minirt exec`: joining a running container's namespaces.
@Suite struct ExecTests {
    @Test func execJoinsTheContainer() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "box", "busybox", "sleep", "60").status == 0)
        _ = try s.id(of: "box")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "box").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let hostname = try s.minirt("inspect", "-f", "{{.Config.Hostname}}", "box").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let o = try s.minirt("exec", "box", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; ip -o -4 addr show eth0 | awk '{print $4}'; cat /proc/self/status | grep NoNewPrivs")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.count == 4)
        if o.lines.count == 4 {
            #expect(o.lines[0] == "sleep 60 ", "the container's own PID 1")
            #expect(o.lines[1] == hostname)
            #expect(o.lines[2].hasPrefix(ip + "/"))
            #expect(o.lines[3].hasSuffix("1"), "the same confinement as the init")
        }
        #expect(try s.minirt("exec", "box", "sh", "-c", "exit 5").status == 5)
        let missing = try s.minirt("exec", "box", "no-such-command")
        #expect(missing.status == 127 && missing.stderr.contains("executable file not found"))
        let user = try s.minirt("exec", "-u", "nobody", "-w", "/tmp", "-e", "GREETING=hi", "box", "sh", "-c", "id -u; pwd; echo $GREETING")
        #expect(user.stdout == "65534\n/tmp\nhi\n", "\(user.stderr)")
        #expect(try s.minirt(["exec", "-i", "box", "cat"], input: "through stdin\n").stdout == "through stdin\n")
        let badUser = try s.minirt("exec", "-u", "nosuchuser", "box", "true")
        #expect(badUser.status == 1 && badUser.stderr.contains("unable to find user nosuchuser"))
        #expect(try s.minirt("stop", "-t", "1", "box").status == 0)
        let stopped = try s.minirt("exec", "box", "true")
        #expect(stopped.status == 1 && stopped.stderr.contains("is not running"), "\(stopped.stderr)")
        #expect(try s.minirt("rm", "box").status == 0)
        try s.finish()
    }

    @Test func execWithATerminal() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "tty", "--network", "none", "busybox", "sleep", "60").status == 0)
        let (status, output) = try s.onTerminal(["exec", "-it", "tty", "sh"], input: "tty; echo term=$TERM; exit 4\n")
        #expect(status == 4)
        #expect(output.contains("/dev/pts/") && output.contains("term=xterm"), "\(output)")
        #expect(try s.minirt("rm", "-f", "tty").status == 0)
        try s.finish()
    }
}

/// exec -d, --env-file, --privileged; the container group, version and info.
@Suite struct DockerVerbsTests {
    @Test func execFlags() throws {
        let s = try Sandbox()
        try s.minirt("run", "-d", "--name", "box", "--network", "none", "busybox", "sleep", "120")
        _ = try s.waitForPid("box")
        let envFile = s.root + "/.env"
        try "# comment\nFROM_FILE=yes\nBOTH=file\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        let env = try s.minirt("exec", "--env-file", envFile, "-e", "BOTH=flag", "box", "sh", "-c", "echo $FROM_FILE $BOTH")
        #expect(env.stdout == "yes flag\n", "\(env.stdout) \(env.stderr)")
        // --privileged: this process gets every capability the container's init lacks.
        let plain = try s.minirt("exec", "box", "grep", "CapEff", "/proc/self/status").stdout
        let privileged = try s.minirt("exec", "--privileged", "box", "grep", "CapEff", "/proc/self/status").stdout
        // Every capability minirt holds: the effective set is our own bounding set.
        let ours = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("CapBnd:") }.map { $0.dropFirst(7).trimmingCharacters(in: .whitespaces) } ?? "?"
        #expect(plain != privileged && privileged == "CapEff:\t\(ours)\n", "\(plain) \(privileged) vs \(ours)")
        #expect(try s.minirt("exec", "box", "grep", "CapEff", "/proc/1/status").stdout == plain, "the init keeps its own set")
        // -d: returns at once; the process runs on in the container.
        let detached = try s.minirt("exec", "-d", "box", "sh", "-c", "echo ran > /tmp/detached; sleep 30")
        #expect(detached.status == 0 && detached.stdout.isEmpty, "\(detached.stderr)")
        var seen = ""
        for _ in 0..<100 where seen.isEmpty { seen = try s.minirt("exec", "box", "cat", "/tmp/detached").stdout; usleep(20_000) }
        #expect(seen == "ran\n")
        #expect(try s.minirt("exec", "-d", "-t", "box", "true").status == 1)
        #expect(try s.minirt("exec", "--env-file", s.root + "/.missing", "box", "true").status == 1)
        // The container group runs the same verbs; prune removes the stopped ones.
        #expect(try s.minirt("container", "ls", "--format", "{{.Names}}").stdout == "box\n")
        try s.minirt("container", "run", "--name", "done", "--network", "none", "busybox", "true")
        let pruned = try s.minirt("container", "prune", "-f")
        #expect(pruned.stdout.contains("Total reclaimed containers: 1"), "\(pruned.stdout)")
        #expect(try s.minirt("version").stdout.contains("Version:"))
        let info = try s.minirt("info").stdout
        #expect(info.contains("Containers: 1\n Running: 1\n Paused: 0\n Stopped: 0\n"), "\(info)")
        try s.minirt("rm", "-f", "box")
        try s.finish()
    }
}
