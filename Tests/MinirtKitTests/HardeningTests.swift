import FoundationEssentials
import Glibc
import MinirtEngine
import MinirtKit
import MinirtState
import Testing

/// Values that reach syscalls and generated files, and files read from a
/// container's root: the hardening issue's classes, as pure checks.
@Suite struct HardeningTests {
    func rootfs(passwd: String? = nil, group: String? = nil) throws -> String {
        var template = Array("/tmp/minirt-unit-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        try #require(mkdir(dir + "/etc", 0o755) == 0)
        if let passwd { try passwd.write(toFile: dir + "/etc/passwd", atomically: true, encoding: .utf8) }
        if let group { try group.write(toFile: dir + "/etc/group", atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func idsOutsideDockersRangeAreRefused() throws {
        let root = try rootfs(passwd: "root:x:0:0::/root:/bin/sh\nbig:x:4294967295:0::/:/bin/sh\n", group: "root:x:0:\n")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for bad in ["4294967295", "-1", "2147483648", "65534:4294967295", "65534:-1", "0:2147483648", "big"] {
            #expect(throws: RunError.self, "\(bad)") { try UserLookup.resolve(bad, root: root) }
        }
        #expect(throws: RunError.self) { try UserLookup.resolve("0", root: root, groupAdd: ["4294967295"]) }
        #expect(throws: RunError.self) { try UserLookup.resolve("0", root: root, groupAdd: ["-1"]) }
        let top = try UserLookup.resolve("2147483647:2147483647", root: root)
        #expect(top.uid == 2_147_483_647 && top.gid == 2_147_483_647)
        #expect(try UserLookup.resolve("root", root: root).uid == 0)
    }

    /// /etc/passwd as a symlink to a host file resolves inside the root: the host's
    /// file is never read, whether the link is absolute or climbs with "..".
    @Test func userLookupNeverLeavesTheRoot() throws {
        let host = try rootfs(passwd: "daemon:x:20228:20228::/:/bin/sh\n")
        defer { try? FileManager.default.removeItem(atPath: host) }
        for target in [host + "/etc/passwd", "../../../../../../..\(host)/etc/passwd"] {
            let root = try rootfs()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try #require(symlink(target, root + "/etc/passwd") == 0)
            #expect(throws: RunError.self, "followed \(target) onto the host") { try UserLookup.resolve("daemon", root: root) }
            // A number still works: nothing is read from the host either way.
            #expect(try UserLookup.resolve("20228", root: root).gid == 20228)
        }
        // A FIFO or a device planted as /etc/group is refused, not waited on.
        let root = try rootfs(passwd: "root:x:0:0::/:/bin/sh\n")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try #require(mkfifo(root + "/etc/group", 0o644) == 0)
        #expect(throws: (any Error).self) { try UserLookup.resolve("root", root: root) }
    }

    @Test func inRootReadsOnlyRegularFilesInside() throws {
        let root = try rootfs(passwd: "x\n")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try InRoot.read("/etc/passwd", root: root) == Array("x\n".utf8))
        #expect(try InRoot.read("/etc/missing", root: root) == nil)
        try #require(symlink("/etc/hostname", root + "/etc/h") == 0)
        #expect(try InRoot.read("/etc/h", root: root) == nil, "an absolute link resolves inside the root, where there is no /etc/hostname")
        #expect(throws: (any Error).self) { try InRoot.read("/etc/passwd", root: root, limit: 1) }
    }

    @Test func valuesThatReachFilesAreValidated() throws {
        func refused(_ change: (inout RunOptions) -> Void) -> Bool {
            var o = RunOptions(image: "img")
            change(&o)
            do { try Validate.runOptions(o); return false } catch { return "\(error)".split(separator: "\n").count == 1 }
        }
        #expect(refused { $0.dns = ["notanip"] })
        #expect(refused { $0.dns = ["1.1.1.1\nnameserver 6.6.6.6"] })
        #expect(refused { $0.dnsSearch = ["a\nnameserver 6.6.6.6"] })
        #expect(refused { $0.dnsSearch = ["a b"] })
        #expect(refused { $0.dnsOptions = ["ndots:1\nnameserver 6.6.6.6"] })
        #expect(refused { $0.dnsOptions = ["ndots:1 x"] })
        #expect(refused { $0.hostname = "x\ny" })
        #expect(refused { $0.hostname = "-x" })
        #expect(refused { $0.hostname = String(repeating: "a", count: 65) })
        #expect(refused { $0.networkAliases = ["a\nb"] })
        #expect(!refused { $0.dns = ["1.1.1.1", "::1"]; $0.dnsSearch = ["example.com", ".", "corp."]; $0.dnsOptions = ["ndots:2"]
                           $0.hostname = "web-1.local"; $0.networkAliases = ["db_1", "db.x"] })
        #expect(throws: RunError.self) { try DNSFiles.parseExtraHost("a\nb:1.2.3.4", gateway: "") }
        #expect(throws: RunError.self) { try DNSFiles.parseExtraHost("a:1.2.3.4\n5.6.7.8 evil", gateway: "") }
        #expect(try DNSFiles.parseExtraHost("db:10.0.0.5", gateway: "") == ("db", "10.0.0.5"))
    }

    @Test func sizesRefuseOverflow() throws {
        #expect(throws: RunError.self) { try ByteSize.parse("99999999999999g", flag: "--memory") }
        #expect(throws: RunError.self) { try ByteSize.parse("8e", flag: "--memory") }
        #expect(throws: RunError.self) { try ByteSize.parse("1e30", flag: "--memory") }
        #expect(throws: RunError.self) { try ByteSize.parse("-5m", flag: "--memory") }
        #expect(throws: RunError.self) { try ByteSize.parse("nan", flag: "--memory") }
        #expect(try ByteSize.parse("1.5g", flag: "--memory") == 1_610_612_736)
        #expect(try ByteSize.parse("8191p", flag: "--memory") == 8191 * 0x4_0000_0000_0000)
    }

    @Test func aZombieIsNotAlive() throws {
        // A child that exited and is not reaped yet: state Z.
        let pid = fork()
        if pid == 0 { _exit(0) }
        let start = try #require(ProcessIdentity.startTime(of: pid))
        var tries = 0
        while !ProcessIdentity.isZombie(pid) && tries < 500 { usleep(2_000); tries += 1 }
        #expect(ProcessIdentity.isZombie(pid))
        #expect(!ProcessIdentity.isAlive(pid: pid, startTime: start), "a zombie must count as dead")
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(ProcessIdentity.startTime(of: getpid()).map { ProcessIdentity.isAlive(pid: getpid(), startTime: $0) } == true)
    }
}
