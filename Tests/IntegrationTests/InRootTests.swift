import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Files minirt reads or creates inside a container's root stay inside it,
/// whatever symlinks the image or the running container planted.
@Suite struct InRootTests {
    /// A copy of the busybox image whose /etc files the test may plant links in.
    static func image(_ s: Sandbox) throws -> String {
        let rootfs = s.root + "/.image"
        let o = try Sandbox.exec("/bin/cp", ["-a", "\(Sandbox.images)/busybox/rootfs", rootfs])
        try #require(o.status == 0, "\(o.stderr)")
        return rootfs
    }

    /// A host file with a user name only it knows, for a planted link to aim at.
    static func hostSecret(_ s: Sandbox) throws -> String {
        let path = s.root + "/.host-passwd"
        try "hostonly:x:20228:20228::/:/bin/sh\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Device nodes (--device), /dev's links and the console are made through the
    /// image's links inside its root: an image whose /dev and another folder are
    /// links to host folders gets them inside, and the host folders stay empty.
    @Test func devicesAndConsoleFollowPlantedLinksInsideOnly() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let rootfs = try Self.image(s)
        let hostDev = s.root + "/.host-dev", hostDir = s.root + "/.host-dir"
        for d in [hostDev, hostDir] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try? FileManager.default.removeItem(atPath: rootfs + "/dev")
        try #require(symlink(hostDev, rootfs + "/dev") == 0 && symlink(hostDir, rootfs + "/sneaky") == 0)
        let o = try s.minirt("run", "--rm", "--network", "none", "--device", "/dev/null:/sneaky/evil", rootfs,
                             "sh", "-c", "ls -l /sneaky/evil && ls /dev/fd/ >/dev/null && echo in-root")
        #expect(o.status == 0 && o.stdout.contains("in-root"), "\(o.stdout)\(o.stderr)")
        // With a terminal: /dev/pts/ptmx and /dev/console, through the same link.
        let t = try s.minirt("run", "-d", "-t", "--name", "tty", "--network", "none", rootfs, "sh", "-c", "tty; ls -l /dev/console; sleep 60")
        #expect(t.status == 0, "\(t.stderr)")
        _ = try s.id(of: "tty")
        var log = ""
        for _ in 0..<100 where !log.contains("console") { log = try s.minirt("logs", "tty").stdout; usleep(20_000) }
        #expect(log.contains("/pts/0") && log.contains("/dev/console"), "\(log)")
        try s.minirt("rm", "-f", "tty")
        for d in [hostDev, hostDir] {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
            #expect(left.isEmpty, "made on the host through the image's link: \(d): \(left)")
        }
        try s.finish()
    }

    @Test func userLookupIgnoresAPasswdLinkedToTheHost() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let rootfs = try Self.image(s)
        let secret = try Self.hostSecret(s)
        unlink(rootfs + "/etc/passwd")
        try #require(symlink(secret, rootfs + "/etc/passwd") == 0)
        let o = try s.minirt("run", "--rm", "--network", "none", "--user", "hostonly", rootfs, "id")
        #expect(o.status == 125 && o.stderr.contains("unable to find user hostonly"), "read the host's file: \(o.stdout) \(o.stderr)")
        try s.finish()
    }

    /// Planted at run time, before `exec -u`: the container's /etc/passwd becomes
    /// a link to a host path; exec resolves it inside /proc/PID/root.
    @Test func execUserLookupIgnoresALinkPlantedAtRunTime() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let secret = try Self.hostSecret(s)
        try #require(try s.minirt("run", "-d", "--name", "box", "--network", "none", "busybox", "sleep", "300").status == 0)
        let plant = try s.minirt("exec", "box", "sh", "-c", "rm /etc/passwd && ln -s \(secret) /etc/passwd")
        try #require(plant.status == 0, "\(plant.stderr)")
        let o = try s.minirt("exec", "-u", "hostonly", "box", "id")
        #expect(o.status != 0 && o.stderr.contains("unable to find user hostonly"), "read the host's file: \(o.stdout) \(o.stderr)")
        try s.minirt("rm", "-f", "box")
        try s.finish()
    }

    /// Ubuntu's /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf is
    /// dangling in an image: its target is created inside the rootfs's writable layer.
    @Test func danglingResolvConfLinkIsFollowedInside() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let rootfs = try Self.image(s)
        for link in ["../run/systemd/resolve/stub-resolv.conf", "/run/minirt-absent/resolv.conf"] {
            unlink(rootfs + "/etc/resolv.conf")
            try #require(symlink(link, rootfs + "/etc/resolv.conf") == 0)
            let o = try s.minirt("run", "--rm", "--network", "none", "--dns", "192.0.2.53", rootfs, "cat", "/etc/resolv.conf")
            #expect(o.status == 0 && o.stdout.contains("nameserver 192.0.2.53"), "\(link): \(o.stderr)")
        }
        var st = stat()
        #expect(lstat(rootfs + "/run/systemd", &st) != 0, "the image itself was written")
        #expect(lstat("/run/minirt-absent", &st) != 0, "the host was written")
        try s.finish()
    }
}
