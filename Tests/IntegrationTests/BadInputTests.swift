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
