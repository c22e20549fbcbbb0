import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bad input: one line naming the problem and the fix, docker's exit code, and
/// no state folder, name, mount or process left behind.
@Suite struct BadInputTests {
    func expectRejected(_ s: Sandbox, _ args: [String], status: Int32 = 125, mentions: String) throws {
        let before = s.containerFolders()
        let o = try s.minirt(args)
        #expect(o.status == status, "\(args): status \(o.status), \(o.stderr)")
        let lines = o.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line expected: \(o.stderr)")
        #expect(o.stderr.hasPrefix("minirt: ") && o.stderr.contains(mentions), "\(args): \(o.stderr)")
        #expect(s.containerFolders() == before, "\(args) left state behind")
        #expect(s.hostMounts().isEmpty)
    }

    @Test func rejectsBadRunInput() throws {
        let s = try Sandbox()
        try expectRejected(s, ["run", "no-such-image"], mentions: "unable to find image \"no-such-image\"")
        try expectRejected(s, ["run", "/etc/passwd", "true"], mentions: "is not a directory")
        try expectRejected(s, ["run", "--name", "../x", "busybox", "true"], mentions: "invalid container name \"../x\"")
        try expectRejected(s, ["run", "--name", "a/b", "busybox", "true"], mentions: "invalid container name \"a/b\"")
        try expectRejected(s, ["run", "--network", "galaxy", "busybox", "true"], mentions: "unknown network \"galaxy\"")
        try expectRejected(s, ["run", "-e", "=oops", "busybox", "true"], mentions: "invalid environment variable")
        try expectRejected(s, ["run", "--env-file", "/nonexistent/env", "busybox", "true"], mentions: "cannot read env file")
        try expectRejected(s, ["run", "--no-such-flag", "busybox"], mentions: "no-such-flag")
        try expectRejected(s, ["run", "--rm", "busybox", "no-such-command"], status: 127, mentions: "executable file not found in $PATH")
        try expectRejected(s, ["run", "busybox", "no-such-command"], status: 127, mentions: "executable file not found in $PATH")
        try s.finish()
    }

    /// The hardening issue's inputs: ids out of range, values that would add
    /// lines to generated files, overflowing sizes, mounts over /proc.
    @Test func rejectsHostileValues() throws {
        let s = try Sandbox()
        for user in ["4294967295", "65534:4294967295", "-1", "2147483648"] {
            try expectRejected(s, ["run", "--rm", "--network", "none", "--user", user, "busybox", "id"], mentions: "must be in range 0-2147483647")
        }
        try expectRejected(s, ["run", "--rm", "--network", "none", "--group-add", "4294967295", "busybox", "id"], mentions: "must be in range")
        try expectRejected(s, ["run", "--rm", "--dns", "notanip", "busybox", "true"], mentions: "invalid --dns \"notanip\"")
        let injected = "a\nnameserver 6.6.6.6"
        for flag in ["--dns-search", "--dns-option", "--hostname", "--network-alias"] {
            try expectRejected(s, ["run", "--rm", flag, injected, "busybox", "true"], mentions: "\\u{a}nameserver")
        }
        try expectRejected(s, ["run", "--rm", "--add-host", "evil\n6.6.6.6 x:1.2.3.4", "busybox", "true"], mentions: "--add-host")
        try expectRejected(s, ["run", "--rm", "--memory", "99999999999999g", "busybox", "true"], mentions: "larger than the largest size")
        try expectRejected(s, ["run", "--rm", "--memory", "1g", "--memory-swap", "99999999999999999999999g", "busybox", "true"], mentions: "--memory-swap")
        try expectRejected(s, ["run", "--rm", "--tmpfs", "/t:size=99999999999999g", "busybox", "true"], mentions: "larger than the largest size")
        try expectRejected(s, ["run", "--rm", "--cpus", "0.0000001", "busybox", "true"], mentions: "below the minimum of 0.01")
        try expectRejected(s, ["run", "--rm", "--pids-limit", "-5", "busybox", "true"], mentions: "--pids-limit -5")
        try expectRejected(s, ["run", "--rm", "-p", "-1:80", "busybox", "true"], mentions: "\"-1\" is not a port number")
        try expectRejected(s, ["run", "--rm", "-p", "1000-60000:1000-60000", "busybox", "true"], mentions: "open-file limit")
        try expectRejected(s, ["run", "--rm", "-v", "/tmp:/proc", "busybox", "true"], mentions: "/proc")
        try expectRejected(s, ["run", "--rm", "-v", "/tmp:/proc/sys/kernel", "busybox", "true"], mentions: "/proc")
        // -1 is a value, not a flag, as docker reads it.
        let o = try s.minirt("run", "--rm", "--network", "none", "--memory", "64m", "--memory-swap", "-1", "--pids-limit", "-1", "busybox", "true")
        #expect(o.status == 0, "\(o.stderr)")
        try s.finish()
    }

    @Test func unknownVerbIsAnError() throws {
        let s = try Sandbox(isolatedNetwork: false)
        for args in [["frobnicate", "--help"], ["frobnicate"], ["network", "frobnicate"]] {
            let o = try s.minirt(args)
            #expect(o.status == 1 && o.stderr.split(separator: "\n").count == 1 && o.stderr.contains("is not a minirt"), "\(args): \(o.stderr)")
        }
        #expect(try s.minirt("run", "--help").status == 0)
        try s.finish()
    }

    @Test func rejectsImageWithoutCommand() throws {
        let s = try Sandbox()
        // A bare rootfs directory carries no Cmd.
        let rootfs = "\(Sandbox.images)/busybox/rootfs"
        try expectRejected(s, ["run", rootfs], mentions: "no command specified")
        let o = try s.minirt("run", "--rm", rootfs, "echo", "bare rootfs works")
        #expect(o.stdout == "bare rootfs works\n", "\(o.stderr)")
        try s.finish()
    }

    @Test func rejectsDuplicateNameAndKeepsTheFirst() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "--name", "web", "busybox", "true").status == 0)
        try expectRejected(s, ["run", "--name", "web", "busybox", "true"], mentions: "already in use")
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}}", "web").stdout == "exited\n")
        try s.minirt("rm", "web")
        try s.finish()
    }

    @Test func rejectsNonRoot() throws {
        let s = try Sandbox()
        let o = try Sandbox.exec("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                    Sandbox.binary, "run", "--rm", "busybox", "true"], env: s.environment)
        #expect(o.status == 125)
        #expect(o.stderr.contains("needs root"), "\(o.stderr)")
        #expect(s.containerFolders().isEmpty)
        try s.finish()
    }

    @Test func rmOfUnknownContainer() throws {
        let s = try Sandbox()
        let o = try s.minirt("rm", "ghost")
        #expect(o.status == 1 && o.stderr == "minirt: no such container: ghost\n")
        try s.finish()
    }
}
