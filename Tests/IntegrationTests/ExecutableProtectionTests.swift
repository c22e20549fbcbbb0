import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The CVE-2019-5736 class: a process in the container gets hold of minirt's
/// binary through /proc/PID/exe of something minirt put into the container,
/// keeps an O_PATH descriptor, and reopens it for writing once minirt exited.
/// Each test runs its own copy of minirt, so that no other test's minirt keeps
/// the inode busy (ETXTBSY) and the final write attempt shows what it would be.
@Suite(.serialized) struct ExecutableProtectionTests {
    /// The container's init: collects O_PATH descriptors of every foreign
    /// process's exe until /probe/done appears, then waits until each can be
    /// opened for writing or says why not.
    static let attacker = """
        import os, errno, time
        me, held, deadline = os.getpid(), {}, time.time() + 30
        while time.time() < deadline and not os.path.exists('/probe/done'):
            for p in os.listdir('/proc'):
                if not p.isdigit() or int(p) == me or p in held: continue
                try:
                    fd = os.open('/proc/%s/exe' % p, os.O_PATH)
                    t = os.readlink('/proc/self/fd/%d' % fd)
                    if t.startswith('/usr/bin/python') or t == '/bin/busybox': os.close(fd); continue
                    held[p] = (fd, t)
                except OSError: pass
        print('caught', len(held), flush=True)
        for p, (fd, t) in held.items():
            res = 'ETXTBSY'
            while res == 'ETXTBSY' and time.time() < deadline + 20:
                try:
                    os.close(os.open('/proc/self/fd/%d' % fd, os.O_WRONLY | os.O_APPEND)); res = 'WRITABLE'
                except OSError as e: res = errno.errorcode[e.errno]
                if res == 'ETXTBSY': time.sleep(0.05)
            st = os.fstat(fd)
            print('exe %d:%d %s %s' % (st.st_dev, st.st_ino, res, t), flush=True)
        print('end', flush=True)
        """

    /// A sandbox running a private copy of minirt (and its supervisor) with the attacker as a container.
    static func prepare(capAdd: [String]) throws -> (Sandbox, probe: String) {
        let s = try Sandbox(isolatedNetwork: false)
        let bin = s.root + "/.bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let built = URL(fileURLWithPath: Sandbox.binary).deletingLastPathComponent().path
        // Copied by cp: a descriptor open for writing in this (threaded) process could
        // be inherited by another test's spawn and make the copy ETXTBSY to execute.
        for tool in ["minirt", "minirt-supervisor"] {
            let o = try Sandbox.exec("/bin/cp", ["\(built)/\(tool)", "\(bin)/\(tool)"])
            try #require(o.status == 0, "\(o.stderr)")
        }
        s.binary = bin + "/minirt"
        let probe = s.root + "/.probe"
        try FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        try attacker.write(toFile: probe + "/attack.py", atomically: true, encoding: .utf8)
        let host = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro", "-v", "\(probe):/probe"]
        let caps = capAdd.flatMap { ["--cap-add", $0] }
        let o = try s.minirt(["run", "-d", "--name", "attacker", "--network", "none"] + caps + host + ["busybox", "python3", "/probe/attack.py"])
        try #require(o.status == 0, "\(o.stderr)")
        return (s, probe)
    }

    /// What the attacker reported, once it has finished (bounded).
    static func verdict(_ s: Sandbox) throws -> [String] {
        for _ in 0..<600 {
            let lines = try s.minirt("logs", "attacker").lines
            if lines.last == "end" { return lines }
            usleep(50_000)
        }
        Issue.record("the attacker did not finish: \(try s.minirt("logs", "attacker").stdout)")
        return []
    }

    static func inode(_ path: String) -> String {
        var st = stat()
        stat(path, &st)
        return "\(st.st_dev):\(st.st_ino)"
    }

    /// Runs `#!/proc/self/exe` as an exec's command, which makes the kernel run
    /// minirt itself inside the container, and holds that minirt there while the
    /// attacker grabs its exe: its stderr is a pipe filled to the brim, so its
    /// first line (the error about its arguments) blocks until this drains it.
    /// Every wait is bounded.
    static func holdMinirtInside(_ s: Sandbox, probe: String) throws {
        try "#!/proc/self/exe\n".write(toFile: probe + "/x", atomically: true, encoding: .utf8)
        chmod(probe + "/x", 0o755)
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let flags = fcntl(fds[1], F_GETFL)
        _ = fcntl(fds[1], F_SETFL, flags | O_NONBLOCK)
        var byte: UInt8 = 0x2e
        var page = [UInt8](repeating: 0x2e, count: 4096)
        while write(fds[1], &page, page.count) > 0 {}
        while write(fds[1], &byte, 1) > 0 {}
        _ = fcntl(fds[1], F_SETFL, flags)
        let full = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        let held = try s.start(["exec", "attacker", "/probe/x"], stderr: full)
        try full.close()
        // The kernel names the interpreter first in its argv.
        var seen = false
        for _ in 0..<200 where !seen {
            for p in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where p.first?.isNumber == true {
                if let c = FileManager.default.contents(atPath: "/proc/\(p)/cmdline"), c.starts(with: Array("/proc/self/exe\0/probe/x".utf8)) { seen = true }
            }
            if !seen { usleep(50_000) }
        }
        #expect(seen, "minirt did not start inside the container")
        usleep(300_000)  // the attacker's scan of /proc runs every few ms
        FileManager.default.createFile(atPath: probe + "/done", contents: nil)
        var sink = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<400 {
            var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) > 0 && read(fds[0], &sink, sink.count) <= 0 { break }
        }
        held.waitUntilExit()
    }

    /// `#!/proc/self/exe` as the command makes the kernel run minirt itself inside
    /// the container (held there by holdMinirtInside) while the attacker grabs its exe.
    @Test func selfExecScriptCannotReachAWritableBinary() throws {
        for caps in [[], ["SYS_PTRACE"]] {
            let (s, probe) = try Self.prepare(capAdd: caps)
            try Self.holdMinirtInside(s, probe: probe)
            let lines = try Self.verdict(s)
            #expect(lines.first == "caught 1", "the attacker should have caught the held minirt: \(lines)")
            for line in lines where line.hasPrefix("exe ") {
                // A read-only clone: the host's inode, but writes fail. A sealed copy: another inode.
                let writable = line.contains(" WRITABLE ") || line.contains(" ETXTBSY ")
                #expect(!(writable && line.contains(" \(Self.inode(s.binary)) ")), "caps \(caps): \(line)")
                #expect(!line.contains(" WRITABLE "), "caps \(caps): \(line)")
            }
            try s.minirt("rm", "-f", "attacker")
            try s.finish()
        }
    }

    /// minirt installed on a read-only mount (here bind-mounted read-only over
    /// itself) skips the re-exec: the held process runs the installed path, and
    /// a reopen for writing still fails with EROFS.
    @Test func readOnlyInstallNeedsNoClone() throws {
        let (s, probe) = try Self.prepare(capAdd: [])
        func mount(_ args: String...) throws { let o = try Sandbox.exec("/usr/bin/mount", args); try #require(o.status == 0, "\(o.stderr)") }
        try mount("--bind", s.binary, s.binary)
        defer { _ = try? Sandbox.exec("/usr/bin/umount", [s.binary]) }
        try mount("-o", "remount,ro,bind", s.binary)
        try Self.holdMinirtInside(s, probe: probe)
        let lines = try Self.verdict(s)
        #expect(lines.first == "caught 1", "\(lines)")
        let exe = lines.first { $0.hasPrefix("exe ") } ?? ""
        #expect(exe.hasSuffix(" EROFS \(s.binary)"), "no clone, and still not writable: \(exe)")
        try s.minirt("rm", "-f", "attacker")
        _ = try Sandbox.exec("/usr/bin/umount", [s.binary])
        try s.finish()
    }

    /// A container holding CAP_SYS_PTRACE races `minirt exec`: whatever it
    /// catches between the join and the execve is not writable.
    @Test func execRaceCannotReachAWritableBinary() throws {
        let (s, probe) = try Self.prepare(capAdd: ["SYS_PTRACE"])
        for _ in 0..<30 { try s.minirt("exec", "attacker", "true") }
        FileManager.default.createFile(atPath: probe + "/done", contents: nil)
        let lines = try Self.verdict(s)
        // Seen here: 30 of 30 caught; without the protection all 30 were writable.
        #expect(lines.first?.hasPrefix("caught ") == true && lines.first != "caught 0", "\(lines)")
        for line in lines where line.hasPrefix("exe ") {
            #expect(!line.contains(" WRITABLE ") && !line.contains(" ETXTBSY "), "\(line)")
        }
        try s.minirt("rm", "-f", "attacker")
        try s.finish()
    }
}
