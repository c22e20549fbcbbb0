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
