import Foundation
import MinirtCNI
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The output of one minirt invocation.
struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// A private state root for one test, against the real kernel and the real
/// busybox image. `finish()` removes what the test left and asserts nothing leaked.
final class Sandbox: @unchecked Sendable {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let binary = ProcessInfo.processInfo.environment["MINIRT_BIN"] ?? "\(packageRoot)/.build/debug/minirt"
    static let images = ProcessInfo.processInfo.environment["MINIRT_TEST_IMAGES"] ?? "/var/lib/minirt/images"

    let root: String
    /// With `isolatedNetwork`, minirt runs inside a network namespace made for
    /// this test: its bridge, veths, iptables rules and addresses are the test's
    /// own "host", and vanish with it (shared/machine-notes.md, "Testing network code safely").
    let netns: String?
    /// The minirt this sandbox runs (a test may run its own copy, whose inode no other test executes).
    var binary = Sandbox.binary
    /// Ids of containers the test named through `id(of:)`, checked for leaks at the end.
    private(set) var trackedIDs: [String] = []

    convenience init() throws { try self.init(isolatedNetwork: true) }

    init(isolatedNetwork: Bool) throws {
        try #require(geteuid() == 0, "integration tests create namespaces and mounts: run them as root")
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build minirt first: swift build")
        var st = stat()
        try #require(lstat("\(Self.images)/busybox/rootfs/bin/busybox", &st) == 0,
                     "build the busybox image first: rootfs-images/build rootfs-images/busybox")
        var template = Array("/tmp/minirt-test-XXXXXX".utf8CString)
        root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        mkdir(root + "/.tmp", 0o700)  // scratch, this test's $TMPDIR
        if isolatedNetwork {
            let name = "minirt-test-\(URL(fileURLWithPath: root).lastPathComponent.suffix(6))"
            _ = try Self.exec("/usr/sbin/ip", ["netns", "add", name])
            _ = try Self.exec("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
            netns = name
        } else {
            netns = nil
        }
    }

    /// Runs a host command, inside the test's network namespace when it has one.
    @discardableResult
    func host(_ args: String...) throws -> Outcome { try host(args) }

    func host(_ args: [String]) throws -> Outcome {
        if let netns { return try Self.exec("/usr/bin/nsenter", ["--net=/run/netns/\(netns)", "--"] + args) }
        return try Self.exec(args[0], Array(args.dropFirst()))
    }

    /// GET from the test's host, with a bounded number of tries (a server needs a
    /// moment to listen); the body, or why it failed.
    func fetch(_ url: String, tries: Int = 50) throws -> String {
        var last = ""
        for _ in 0..<tries {
            let o = try host("curl", "-s", "--max-time", "2", url)
            if o.status == 0 && !o.stdout.isEmpty { return o.stdout }
            last = "curl exit \(o.status)"
            usleep(50_000)
        }
        return last
    }

    /// Runs minirt on a pseudo-terminal of the test's (as a user at a terminal
    /// would), types `input`, and collects what appears, bounded by 10 s.
    func onTerminal(_ args: [String], input: String) throws -> (status: Int32, output: String) {
        // posix_openpt() is hidden from Swift; the ioctls it wraps are not.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        #expect(master >= 0)
        defer { close(master) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        _ = ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock)
        _ = ioctl(master, 0x8004_5430 /* TIOCGPTN */, &number)
        let slave = FileHandle(forUpdatingAtPath: "/dev/pts/\(number)")!
        let p = try start(args, stdin: slave, stdout: slave, stderr: slave)
        try slave.close()
        _ = input.withCString { write(master, $0, strlen($0)) }
        var output = ""
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) > 0 {
                let n = read(master, &buf, buf.count)
                if n <= 0 { break }
                output += String(decoding: buf[0..<n], as: UTF8.self)
            } else if !p.isRunning { break }
        }
        return (p.terminationStatus, output)
    }

    func id(of name: String) throws -> String {
        let id = try minirt("inspect", "-f", "{{.Id}}", name).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(id.count == 64, "no container \(name)")
        trackedIDs.append(id)
        return id
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["MINIRT_ROOT"] = root
        env["MINIRT_IMAGES"] = Self.images
        env["MINIRT_CNI_CONFIG"] = root + "/.cni-config"
        env["MINIRT_VOLUMES"] = root + "/.volumes"
        env["TMPDIR"] = scratch
        // Every `run` a test makes checks minirt's quick parse against ArgumentParser's (QuickRun).
        env["MINIRT_PARSE_CHECK"] = "1"
        return env
    }

    /// This test's own $TMPDIR, so a check that minirt left no scratch folder
    /// behind is not confused by another test's minirt working at the same time.
    var scratch: String { root + "/.tmp" }

    /// Whether minirt left a scratch folder for `purpose` (cp, load, save) behind.
    func leftScratch(_ purpose: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []).contains { $0.hasPrefix("minirt-\(purpose)-") }
    }

    /// minirt itself, wrapped in nsenter when the test has its own network namespace.
    var command: (String, [String]) {
        if let netns { return ("/usr/bin/nsenter", ["--net=/run/netns/\(netns)", "--", binary]) }
        return (binary, [])
    }

    /// Starts minirt without waiting for it.
    func start(_ args: [String], stdin: FileHandle? = nil, stdout: Any? = nil, stderr: Any? = nil) throws -> Child {
        try Child(command.0, command.1 + args, env: environment, stdin: stdin, stdout: stdout, stderr: stderr)
    }

    /// Runs minirt to completion and collects its output.
    @discardableResult
    func minirt(_ args: String..., input: String? = nil) throws -> Outcome { try minirt(args, input: input) }

    @discardableResult
    func minirt(_ args: [String], input: String? = nil) throws -> Outcome {
        try Self.exec(command.0, command.1 + args, env: environment, input: input)
    }

    /// The longest one command of a test may take (an image recipe build is the slowest).
    static let commandTimeout: Double = 600

    static func exec(_ path: String, _ args: [String], env: [String: String]? = nil, input: String? = nil) throws -> Outcome {
        let environment = (env ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        // Bounded: a command that hangs fails its test by name instead of holding
        // the whole suite (and CI) until its time runs out.
        let out = try ChildProcess.run(path, arguments: args, environment: environment, stdin: Data((input ?? "").utf8),
                                       timeout: commandTimeout)
        if out.timedOut {
            Issue.record("hung: \(([path] + args).joined(separator: " ")) was killed after \(Int(commandTimeout)) s")
        }
        return Outcome(status: out.status, stdout: String(decoding: out.stdout, as: UTF8.self),
                       stderr: String(decoding: out.stderr, as: UTF8.self))
    }

    /// Waits (bounded) until the container's init is running and returns its host pid.
    func waitForPid(_ name: String, timeout: Double = 10) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let o = try minirt("inspect", "-f", "{{.State.Pid}}", name)
            if o.status == 0, let pid = Int32(o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 { return pid }
            usleep(20_000)
        }
        Issue.record("container \(name) did not start within \(timeout)s")
        return 0
    }

    /// Container folders in the store (dot entries are the store's own files).
    func containerFolders() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }
    }

    /// Host mounts that name this sandbox: there must be none, ever (the
    /// container's mounts live in its own mount namespace).
    func hostMounts() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).filter { $0.contains(root) }
    }

    func names() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root + "/.names")) ?? []
    }

    /// Removes every container the test left, then asserts the store and the host are clean.
    func finish(expectEmpty: Bool = true) throws {
        if expectEmpty {
            #expect(containerFolders().isEmpty, "state folders left behind: \(containerFolders())")
            #expect(names().isEmpty, "names left behind: \(names())")
        }
        let leftover = try minirt("ls", "-aq", "--no-trunc").lines
        if !leftover.isEmpty { try minirt(["rm", "-f"] + leftover) }
        #expect(containerFolders().isEmpty, "rm left state folders: \(containerFolders())")
        #expect(hostMounts().isEmpty, "mounts left on the host: \(hostMounts())")
        let markers = (try? FileManager.default.contentsOfDirectory(atPath: "/var/run/minirt-userns")) ?? []
        for id in trackedIDs {
            let held = markers.filter { (try? String(contentsOfFile: "/var/run/minirt-userns/\($0)", encoding: .utf8))?.hasPrefix(id) == true }
            #expect(held.isEmpty, "user namespace range left taken by \(id.prefix(12)): \(held)")
            let pin = "/var/run/netns/minirt-\(id.prefix(12))"
            #expect(!FileManager.default.fileExists(atPath: pin), "network namespace pin left: \(pin)")
            #expect(!(try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)).contains(pin))
            // Every hierarchy, v1 controllers and the unified one (pure v2 hosts have it at the top).
            let hierarchies = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [])
                .map { "/sys/fs/cgroup/\($0)" } + ["/sys/fs/cgroup"]
            for h in hierarchies {
                let cg = "\(h)/minirt/\(id)"
                #expect(access(cg, F_OK) != 0, "cgroup left: \(cg)")
            }
        }
        let leases = (try? FileManager.default.subpathsOfDirectory(atPath: root + "/.ipam")) ?? []
        let leftLeases = leases.filter { !$0.hasSuffix("lock") && !$0.contains("last_reserved_ip") && $0.contains("/") }
        #expect(leftLeases.isEmpty, "IPAM leases left: \(leftLeases)")
        if let netns {
            let veths = try host("ip", "-o", "link", "show", "type", "veth").stdout
            #expect(veths.isEmpty, "veths left: \(veths)")
            let nat = try host("iptables", "-t", "nat", "-S").lines.filter {
                $0.hasPrefix("-A") && !$0.contains("CNI-HOSTPORT-MASQ") && !$0.contains("CNI-HOSTPORT-SETMARK")
                    && !$0.hasSuffix("-j CNI-HOSTPORT-DNAT")
            }
            #expect(nat.isEmpty, "nat rules left: \(nat)")
            let forward = try host("iptables", "-t", "filter", "-S").lines.filter {
                $0.hasPrefix("-A CNI-FORWARD") && !$0.hasSuffix("-j CNI-ADMIN") || $0.hasPrefix("-A CNI-ADMIN")
            }
            #expect(forward.isEmpty, "filter rules left: \(forward)")
            let v6 = try host("ip6tables-save").lines.filter { $0.hasPrefix("-A") && $0.contains("CNI-DN-") }
            #expect(v6.isEmpty, "ip6tables rules left: \(v6)")
            // Dual-stack networks: the IPv6 masquerade and DNAT chains go as the IPv4 ones do.
            let nat6 = try host("ip6tables", "-t", "nat", "-S").lines.filter {
                $0.hasPrefix("-A") && !$0.contains("CNI-HOSTPORT-MASQ") && !$0.contains("CNI-HOSTPORT-SETMARK")
                    && !$0.hasSuffix("-j CNI-HOSTPORT-DNAT")
            }
            #expect(nat6.isEmpty, "ip6tables nat rules left: \(nat6)")
            let forward6 = try host("ip6tables", "-t", "filter", "-S").lines.filter {
                $0.hasPrefix("-A CNI-FORWARD") && !$0.hasSuffix("-j CNI-ADMIN") || $0.hasPrefix("-A CNI-ADMIN")
            }
            #expect(forward6.isEmpty, "ip6tables filter rules left: \(forward6)")
            let table = try host("nft", "list", "table", "inet", "minirt")
            #expect(table.status != 0, "minirt's nft table left with no container: \(table.stdout)")
            let routes = try host("ip", "route", "show").lines.filter { $0.contains("dev veth") }
            #expect(routes.isEmpty, "routes to gone veths left: \(routes)")
            for id in trackedIDs {
                let all = try host("iptables-save").stdout
                #expect(!all.contains(String(id.prefix(12))) && !all.contains(id), "iptables rules naming \(id.prefix(12)) left")
            }
            _ = try Self.exec("/usr/sbin/ip", ["netns", "delete", netns])
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// A process started in the background with posix_spawn and reaped with
/// waitpid (Foundation's Process can miss the exit of a child that started a
/// daemon in a new session, as `minirt run -d` does).
final class Child: @unchecked Sendable {
    let processIdentifier: Int32
    private var status: Int32?

    init(_ path: String, _ args: [String], env: [String: String], stdin: FileHandle?, stdout: Any?, stderr: Any?) throws {
        func fd(_ x: Any?, write: Bool) -> Int32? {
            if let h = x as? FileHandle { return h.fileDescriptor }
            if let p = x as? Pipe { return write ? p.fileHandleForWriting.fileDescriptor : p.fileHandleForReading.fileDescriptor }
            return nil
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let spawned = ChildProcess.spawn(path, arguments: args, environment: env.map { "\($0.key)=\($0.value)" },
                                         stdio: (fd(stdin, write: false) ?? null, fd(stdout, write: true) ?? null, fd(stderr, write: true) ?? null))
        guard case .success(let pid) = spawned else { throw POSIXError(.EIO) }
        processIdentifier = pid
        // The parent's copies of the write ends must close, or readers never see EOF.
        if let p = stdout as? Pipe { try? p.fileHandleForWriting.close() }
        if let p = stderr as? Pipe, (stderr as AnyObject) !== (stdout as AnyObject) { try? p.fileHandleForWriting.close() }
    }

    var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        if waitpid(processIdentifier, &s, WNOHANG) == processIdentifier { status = s; return false }
        return true
    }

    /// Bounded like `Sandbox.exec`: a child that hangs is killed and named.
    func waitUntilExit() {
        guard status == nil else { return }
        var s: Int32 = 0
        for _ in 0..<Int(Sandbox.commandTimeout * 500) {
            let r = waitpid(processIdentifier, &s, WNOHANG)
            if r == processIdentifier { status = s; return }
            if r < 0 && errno != EINTR { status = 0; return }
            usleep(2000)
        }
        Issue.record("hung: child \(processIdentifier) was killed after \(Int(Sandbox.commandTimeout)) s")
        kill(processIdentifier, SIGKILL)
        while waitpid(processIdentifier, &s, 0) < 0 && errno == EINTR {}
        status = s
    }

    var terminationStatus: Int32 {
        waitUntilExit()
        let s = status ?? 0
        return (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
    }
}
