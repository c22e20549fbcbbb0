import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `minirt run` on real namespaces and the real busybox image.
@Suite struct RunTests {
    @Test func commandIsPid1WithItsOwnHostname() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--rm", "busybox", "sh", "-c", "echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.first == "1")
        // The default hostname is the short id: 12 hex characters.
        let hostname = o.lines.count > 1 ? o.lines[1] : ""
        #expect(hostname.count == 12 && hostname.allSatisfy(\.isHexDigit), "hostname \(hostname)")
        #expect(o.lines.last == "sh -c echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' ' ")
        #expect(try s.minirt("run", "--rm", "--hostname", "box", "busybox", "hostname").stdout == "box\n")
        try s.finish()
    }

    @Test func noneNetworkHasOnlyLoopback() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; ip -o link show lo")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.first == "lo" && o.lines.count == 2)
        #expect(o.lines.last?.contains("UP") == true, "lo is up, as in docker's none mode: \(o.stdout)")
        try s.finish()
    }

    @Test func hostNetworkSeesHostInterfaces() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let o = try s.minirt("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
        #expect(o.status == 0, "\(o.stderr)")
        let host = try FileManager.default.contentsOfDirectory(atPath: "/sys/class/net").sorted()
        #expect(o.lines.sorted() == host)
        #expect(host.count > 1, "the host should have more than lo")
        // The host's resolv.conf as is, and the host's name.
        let files = try s.minirt("run", "--rm", "--network", "host", "busybox", "sh", "-c", "cat /etc/resolv.conf; hostname")
        let hostResolv = try String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let hostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(files.stdout == hostResolv + hostname + "\n")
        try s.finish()
    }

    @Test func writesStayInTheirContainer() throws {
        let s = try Sandbox()
        let marker = "/etc/minirt-marker-\(getpid())"
        let a = try s.minirt("run", "--rm", "busybox", "sh", "-c", "echo a > \(marker) && cat \(marker) && rm /bin/ls")
        #expect(a.status == 0 && a.stdout == "a\n", "\(a.stderr)")
        // lstat, not stat: the image's bin/ls is a symlink to /bin/busybox, which
        // names the image's busybox only inside the container (the host may have none).
        var st = stat()
        #expect(lstat("\(Sandbox.images)/busybox/rootfs\(marker)", &st) != 0)
        #expect(lstat("\(Sandbox.images)/busybox/rootfs/bin/ls", &st) == 0, "the image lost its bin/ls")
        let b = try s.minirt("run", "--rm", "busybox", "sh", "-c", "test ! -e \(marker) && ls /bin/ls")
        #expect(b.status == 0, "another container saw the first one's writes: \(b.stdout) \(b.stderr)")
        try s.finish()
    }

    @Test func exitStatusesFollowDocker() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "--rm", "busybox", "true").status == 0)
        #expect(try s.minirt("run", "--rm", "busybox", "sh", "-c", "exit 7").status == 7)
        let notFound = try s.minirt("run", "--rm", "busybox", "no-such-command")
        #expect(notFound.status == 127)
        #expect(notFound.stderr.contains("executable file not found"), "\(notFound.stderr)")
        #expect(try s.minirt("run", "--rm", "busybox", "/no/such/path").status == 127)
        let notExecutable = try s.minirt("run", "--rm", "busybox", "/etc/passwd")
        #expect(notExecutable.status == 126, "\(notExecutable.stderr)")
        #expect(try s.minirt("run", "--rm", "busybox", "/etc").status == 126)
        try s.finish()
    }

    @Test func killedBySignalExits128PlusN() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--rm", "--name", "victim", "busybox", "sleep", "30"])
        let pid = try s.waitForPid("victim")
        #expect(pid > 0)
        if pid > 0 { kill(pid, SIGKILL) }
        p.waitUntilExit()
        #expect(p.terminationStatus == 137)
        try s.finish()
    }

    @Test func signalsAreForwarded() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--rm", "--name", "trap", "busybox", "sh", "-c",
                             "trap 'exit 42' TERM; while true; do sleep 1; done"])
        _ = try s.waitForPid("trap")
        // PID 1 ignores SIGTERM until its trap is set: send it until the container ends (bounded).
        for _ in 0..<50 where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            usleep(100_000)
        }
        p.waitUntilExit()
        #expect(p.terminationStatus == 42)
        try s.finish()
    }

    @Test func environmentWorkdirAndEntrypoint() throws {
        let s = try Sandbox()
        let envFile = s.root + "/.env-file"
        try "# comment\nFROM_FILE=yes\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        let o = try s.minirt("run", "--rm", "-e", "A=1", "-e", "B=two words", "--env-file", envFile,
                             "-w", "/tmp/work", "busybox", "sh", "-c", "echo $A; echo $B; echo $FROM_FILE; pwd; echo $HOSTNAME; echo $PATH")
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.count == 6)
        if o.lines.count == 6 {
            #expect(Array(o.lines[0...3]) == ["1", "two words", "yes", "/tmp/work"])
            #expect(o.lines[4].count == 12)
            #expect(o.lines[5] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        }
        let e = try s.minirt("run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint")
        #expect(e.stdout == "from entrypoint\n")
        let piped = try s.minirt(["run", "--rm", "-i", "busybox", "sh", "-c", "read x; echo got $x"], input: "hello\n")
        #expect(piped.stdout == "got hello\n")
        let noStdin = try s.minirt(["run", "--rm", "busybox", "sh", "-c", "cat; echo done"], input: "ignored\n")
        #expect(noStdin.stdout == "done\n", "without -i the container's stdin is /dev/null")
        try s.finish()
    }

    @Test func minimalDevAndReadOnlySys() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--rm", "busybox", "sh", "-c",
                             "ls /dev | tr '\\n' ' '; echo; touch /sys/x 2>/dev/null && echo sys-writable; grep ' /proc ' /proc/mounts | cut -d' ' -f3; head -c 4 /dev/zero | wc -c")
        #expect(o.status == 0, "\(o.stderr)")
        let dev = Set(o.lines.first?.split(separator: " ").map(String.init) ?? [])
        #expect(dev.isSuperset(of: ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd"]))
        #expect(!dev.contains("sda") && !dev.contains("vda") && !dev.contains("mem"))
        #expect(!o.stdout.contains("sys-writable"))
        #expect(o.lines.contains("proc"))
        #expect(o.lines.last == "4")
        try s.finish()
    }

    @Test func interactiveTerminal() throws {
        let s = try Sandbox()
        let (status, output) = try s.onTerminal(["run", "--rm", "-it", "busybox", "sh"], input: "tty; echo term=$TERM; exit 3\n")
        #expect(status == 3)
        #expect(output.contains("/dev/pts/0"), "the container's tty is its own pty: \(output)")
        #expect(output.contains("term=xterm"))
        try s.finish()
    }
}
