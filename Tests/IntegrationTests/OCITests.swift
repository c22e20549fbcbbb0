import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// runc's command line (`minirt oci`, `minirt-runc`) over real bundles, with
/// Debian's runc as the reference where both run the same bundle.
@Suite struct OCITests {
    // runc names a bundle's cgroup after the container id when cgroupsPath is
    // empty: each test's reference run gets an id (and so a cgroup) of its own.

    /// A bundle folder with the busybox image as rootfs and `spec` written by `tool`.
    static func bundle(_ s: Sandbox, name: String, specBy tool: [String], args: [String]) throws -> String {
        let dir = "\(s.root)/.bundles/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cp = try Sandbox.exec("/bin/cp", ["-a", "\(Sandbox.images)/busybox/rootfs", dir + "/rootfs"])
        try #require(cp.status == 0, "\(cp.stderr)")
        let spec = try Sandbox.exec(tool[0], Array(tool.dropFirst()) + ["spec", "--bundle", dir])
        try #require(spec.status == 0, "\(tool) spec: \(spec.stderr)")
        // The process alone is changed, as an engine would: no terminal, our command.
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        process["args"] = args
        config["process"] = process
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return dir
    }

    func oci(_ s: Sandbox, _ args: [String]) throws -> Outcome {
        try Sandbox.exec(s.binary, ["oci", "--root", s.root + "/.oci"] + args, env: s.environment)
    }

    /// `create` as an engine calls it: the init keeps the stdio it is given (as
    /// conmon's pipes), so it gets files here, not the pipes the harness reads to EOF.
    func create(_ s: Sandbox, _ args: [String]) throws -> Outcome {
        let out = s.root + "/.create-out", err = s.root + "/.create-err"
        let o = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >\(out) 2>\(err)", s.binary, "oci", "--root", s.root + "/.oci", "create"] + args,
                                 env: s.environment)
        return Outcome(status: o.status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    static let probe = "id; ulimit -n; hostname; grep -E '^Cap(Eff|Bnd|Amb)|^NoNewPrivs|^Seccomp:' /proc/self/status; cat /proc/1/cmdline | tr '\\\\0' ' '; echo; ls /proc/sys >/dev/null && echo proc; touch /x 2>/dev/null || echo ro-root; exit 7"

    /// `runc spec`'s bundle, with only its process changed, behaves under minirt as under runc.
    @Test func runcSpecBundleBehavesAsUnderRunc() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try Self.bundle(s, name: "runc-spec", specBy: ["/usr/sbin/runc"], args: ["sh", "-c", Self.probe])
        let reference = try Sandbox.exec("/usr/sbin/runc", ["--root", s.root + "/.runc", "run", "--bundle", dir, "ref-" + URL(fileURLWithPath: dir).lastPathComponent])
        let ours = try oci(s, ["run", "--bundle", dir, "ours"])
        #expect(reference.status == 7 && ours.status == 7, "runc \(reference.status) \(reference.stderr), minirt \(ours.status) \(ours.stderr)")
        #expect(ours.stdout == reference.stdout, "minirt:\n\(ours.stdout)\nrunc:\n\(reference.stdout)")
        #expect(try oci(s, ["list", "-q"]).stdout.isEmpty, "run without --keep deletes")
        try s.finish()
    }

    /// rlimits, oomScoreAdj, sysctl and domainname set in a `runc spec` bundle: the same under both.
    @Test func kernelFieldsMatchRunc() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try Self.bundle(s, name: "kernel", specBy: ["/usr/sbin/runc"],
                                  args: ["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj /proc/sys/kernel/shmmax /proc/sys/kernel/domainname"])
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 777, "hard": 888]]
        process["oomScoreAdj"] = 300
        config["process"] = process
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux["sysctl"] = ["kernel.shmmax": "123456"]
        config["linux"] = linux
        config["domainname"] = "d.example"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let reference = try Sandbox.exec("/usr/sbin/runc", ["--root", s.root + "/.runc", "run", "--bundle", dir, "ref-" + URL(fileURLWithPath: dir).lastPathComponent])
        let ours = try oci(s, ["run", "--bundle", dir, "ours"])
        #expect(reference.status == 0 && Array(reference.lines.prefix(4)) == ["777", "888", "300", "123456"], "runc: \(reference.stdout) \(reference.stderr)")
        #expect(ours.status == 0 && Array(ours.lines.prefix(4)) == Array(reference.lines.prefix(4)), "minirt: \(ours.stdout) \(ours.stderr)")
        // A deliberate difference: Debian's runc 1.1.5 leaves domainname unset ("(none)");
        // minirt honours the spec's field (docker's --domainname depends on it).
        #expect(reference.lines.last == "(none)" && ours.lines.last == "d.example", "\(reference.lines) \(ours.lines)")
        try s.finish()
    }

    /// The bundle `minirt run` writes runs under runc unchanged but for its process
    /// and cgroup path: the writable layer is an overlay mount at "/", first in mounts.
    @Test func minirtsOwnBundleRunsUnderRunc() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let made = try s.minirt("run", "--name", "src", "--network", "none", "-h", "from-minirt", "busybox", "sh", "-c", "echo layer > /written")
        try #require(made.status == 0, "\(made.stderr)")
        let id = try s.id(of: "src")
        let dir = s.root + "/.bundles/own"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(s.root)/\(id)/config.json"))) as? [String: Any])
        var process = config["process"] as? [String: Any] ?? [:]
        process["args"] = ["sh", "-c", "cat /written /etc/hostname; hostname; " + Self.probeStatus]
        process["terminal"] = false
        config["process"] = process
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux["cgroupsPath"] = "/minirt-bundle-test-\(getpid())"
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let reference = try Sandbox.exec("/usr/sbin/runc", ["--root", s.root + "/.runc", "run", "--bundle", dir, "own-ref"])
        #expect(reference.status == 0 && reference.lines.prefix(3) == ["layer", "from-minirt", "from-minirt"], "runc: \(reference.stdout) \(reference.stderr)")
        let ours = try oci(s, ["run", "--bundle", dir, "own-ours"])
        #expect(ours.status == 0 && ours.stdout == reference.stdout, "minirt: \(ours.stdout) \(ours.stderr)\nrunc: \(reference.stdout)")
        try s.minirt("rm", "src")
        try s.finish()
    }

    static let probeStatus = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"

    /// minirt's own `oci spec` writes what runc's does, field for field that matters.
    @Test func ownSpecMatchesRuncs() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try Self.bundle(s, name: "own-spec", specBy: [s.binary, "oci"], args: ["sh", "-c", Self.probe])
        let reference = try Sandbox.exec("/usr/sbin/runc", ["--root", s.root + "/.runc", "run", "--bundle", dir, "ref-" + URL(fileURLWithPath: dir).lastPathComponent])
        let ours = try oci(s, ["run", "--bundle", dir, "ours"])
        #expect(ours.status == 7 && ours.stdout == reference.stdout, "minirt:\n\(ours.stdout)\nrunc:\n\(reference.stdout) \(reference.stderr)")
        try s.finish()
    }

    @Test func createStartKillDeleteAsRuncDoes() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try Self.bundle(s, name: "life", specBy: [s.binary, "oci"], args: ["sleep", "300"])
        let pidFile = s.root + "/.oci-pid"
        let created = try create(s, ["--bundle", dir, "--pid-file", pidFile, "c1"])
        try #require(created.status == 0, "\(created.stderr)")
        let pidText = try String(contentsOfFile: pidFile, encoding: .utf8)
        #expect(Int32(pidText) != nil && !pidText.hasSuffix("\n"), "the pid file holds the pid, no newline: \(pidText.debugDescription)")
        func state() throws -> [String: Any] {
            let o = try oci(s, ["state", "c1"])
            return (try? JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any]) ?? [:]
        }
        #expect(try state()["status"] as? String == "created")
        #expect(try state()["pid"] as? Int == Int(pidText))
        // Blocked before execve: the init is still minirt's, not sleep.
        #expect(!(try String(contentsOfFile: "/proc/\(pidText)/cmdline", encoding: .utf8)).hasPrefix("sleep"))
        #expect(try create(s, ["--bundle", dir, "c1"]).stderr == "container with id exists: c1\n")
        #expect(try oci(s, ["start", "c1"]).status == 0)
        #expect(try state()["status"] as? String == "running")
        #expect(try oci(s, ["start", "c1"]).stderr == "cannot start an already running container\n")
        #expect(try oci(s, ["delete", "c1"]).stderr.contains("cannot delete container c1 that is not stopped: running"))
        // exec: in the container's namespaces, from args or a process file.
        let inside = try oci(s, ["exec", "c1", "sh", "-c", "echo in; tr '\\0' ' ' < /proc/1/cmdline"])
        #expect(inside.status == 0 && inside.stdout == "in\nsleep 300 ", "\(inside.stdout) \(inside.stderr)")
        let processFile = s.root + "/.process.json"
        try #"{"args": ["sh", "-c", "id -u; exit 5"], "cwd": "/", "user": {"uid": 65534, "gid": 65534}}"#
            .write(toFile: processFile, atomically: true, encoding: .utf8)
        let fromFile = try oci(s, ["exec", "--process", processFile, "c1"])
        #expect(fromFile.status == 5 && fromFile.stdout == "65534\n", "\(fromFile.status) \(fromFile.stdout) \(fromFile.stderr)")
        let ps = try oci(s, ["ps", "--format", "json", "c1"])
        #expect(ps.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\(pidText)]", "\(ps.stdout)")
        // (SIGTERM would do nothing: sleep is PID 1 of its namespace, with no handler.)
        #expect(try oci(s, ["kill", "c1", "KILL"]).status == 0)
        for _ in 0..<250 where try state()["status"] as? String != "stopped" { usleep(20_000) }
        #expect(try state()["status"] as? String == "stopped")
        #expect(try oci(s, ["kill", "c1"]).stderr == "container not running\n")
        #expect(try oci(s, ["start", "c1"]).stderr == "cannot start a container that has stopped\n")
        #expect(try oci(s, ["exec", "c1", "true"]).stderr == "cannot exec in a stopped container\n")
        #expect(try oci(s, ["delete", "c1"]).status == 0)
        let gone = try oci(s, ["state", "c1"])
        #expect(gone.status == 1 && gone.stderr == "container does not exist\n")
        #expect(try oci(s, ["delete", "--force", "c1"]).status == 0, "--force on a missing container succeeds")
        // delete of a created container kills its blocked init.
        try #require(try create(s, ["--bundle", dir, "--pid-file", pidFile, "c2"]).status == 0)
        let blocked = Int32(try String(contentsOfFile: pidFile, encoding: .utf8)) ?? 0
        #expect(try oci(s, ["delete", "c2"]).status == 0)
        let stat = (try? String(contentsOfFile: "/proc/\(blocked)/stat", encoding: .utf8)) ?? ""
        #expect(stat.isEmpty || stat.contains(") Z "), "the blocked init survived delete: \(stat)")
        try s.finish()
    }

    /// --preserve-fds N: the caller's descriptors 3..3+N-1 reach the process, and only
    /// descriptors that really are the caller's (open, inheritable).
    @Test func preservedDescriptorsReachTheProcess() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let dir = try Self.bundle(s, name: "fds", specBy: [s.binary, "oci"], args: ["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"])
        let secret = s.root + "/.passed"
        try "handed over\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let out = s.root + "/.fds-out"
        let root = s.root + "/.oci"
        let run = try Sandbox.exec("/bin/sh", ["-c", "exec 3<\(secret); exec \"$0\" oci --root \(root) create --preserve-fds 1 --bundle \(dir) f1 </dev/null >\(out) 2>&1", s.binary])
        try #require(run.status == 0, "\((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        #expect(try oci(s, ["start", "f1"]).status == 0)
        for _ in 0..<100 where ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count < 2 { usleep(20_000) }
        // stdin, stdout, stderr, fd 3, and the one ls opens for /proc/self/fd: nothing of minirt's.
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "handed over\n5\n")
        #expect(try oci(s, ["delete", "--force", "f1"]).status == 0)
        let missing = try Sandbox.exec("/bin/sh", ["-c", "exec 3<&-; exec \"$0\" oci --root \(root) create --preserve-fds 1 --bundle \(dir) f2 </dev/null >\(out) 2>&1", s.binary])
        #expect(missing.status == 1 && ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("descriptor 3"))
        #expect(try oci(s, ["list", "-q"]).stdout.isEmpty)
        try s.finish()
    }

    @Test func badInputIsOneLineAndLeavesNothing() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let empty = s.root + "/.empty-bundle"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let missing = try oci(s, ["create", "--bundle", empty, "x"])
        #expect(missing.status == 1 && missing.stderr.contains("config.json not found"), "\(missing.stderr)")
        try "{\"process\": ".write(toFile: empty + "/config.json", atomically: true, encoding: .utf8)
        let malformed = try oci(s, ["create", "--bundle", empty, "x"])
        #expect(malformed.status == 1 && malformed.stderr.contains("config.json") && malformed.stderr.split(separator: "\n").count == 1, "\(malformed.stderr)")
        #expect(try oci(s, ["create", "--bundle", empty, "../evil"]).stderr.contains("invalid container id format"))
        let dir = try Self.bundle(s, name: "escape", specBy: [s.binary, "oci"], args: ["true"])
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any])
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux["cgroupsPath"] = "/../../escape"
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect(try oci(s, ["create", "--bundle", dir, "y"]).stderr.contains("leaves the cgroup hierarchy"))
        #expect(try oci(s, ["--systemd-cgroup", "list"]).stderr.contains("--systemd-cgroup is not supported"))
        #expect(try oci(s, ["list", "-q"]).stdout.isEmpty, "a failed create left a container")
        try s.finish()
    }

    /// `minirt-runc` (a link) takes runc's argument order; --log-format json logs errors as JSON lines.
    @Test func runcEntryPointAndJSONLog() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try FileManager.default.createDirectory(atPath: s.root + "/.bin", withIntermediateDirectories: true)
        let link = s.root + "/.bin/minirt-runc"
        try #require(symlink(s.binary, link) == 0)
        let log = s.root + "/.bin/runtime.log"
        let o = try Sandbox.exec(link, ["--root", s.root + "/.oci", "--log", log, "--log-format", "json", "state", "nope"], env: s.environment)
        #expect(o.status == 1 && o.stderr == "container does not exist\n", "\(o.stderr)")
        let line = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(entry?["level"] == "error" && entry?["msg"] == "container does not exist" && entry?["time"]?.hasSuffix("Z") == true, "\(line)")
        #expect(try Sandbox.exec(link, ["--root", s.root + "/.oci", "list", "--format", "json"], env: s.environment).stdout == "[]\n")
        #expect(try Sandbox.exec(link, ["--version"], env: s.environment).stdout.hasPrefix("minirt-runc version "))
        let features = try Sandbox.exec(link, ["features"], env: s.environment)
        let doc = try JSONSerialization.jsonObject(with: Data(features.stdout.utf8)) as? [String: Any]
        let linux = doc?["linux"] as? [String: Any]
        #expect((linux?["namespaces"] as? [String])?.contains("pid") == true && (linux?["capabilities"] as? [String])?.contains("CAP_KILL") == true,
                "\(features.stdout)")
        try s.finish()
    }
}

/// Hooks as runc 1.1.5 runs them: prestart and createRuntime during create,
/// with the container's namespaces made and its pid in the state; poststart at
/// the end of create; poststop after delete. A failing hook undoes the create.
@Suite struct OCIHookTests {
    static func withHooks(_ s: Sandbox, name: String, _ hooks: [String: Any]) throws -> String {
        let dir = try OCITests.bundle(s, name: name, specBy: [s.binary, "oci"], args: ["sleep", "300"])
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        config["hooks"] = hooks
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return dir
    }

    static func record(_ file: String) -> [String: Any] {
        ["path": "/bin/sh", "args": ["sh", "-c", "cat > \(file)"]]
    }

    func state(_ file: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any]) ?? [:]
    }

    @Test func hooksRunWhereRuncRunsThem() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let out = s.root + "/.hooks"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // createRuntime also proves the namespaces exist: it reads the container's net namespace.
        let netCheck: [String: Any] = ["path": "/bin/sh", "args": ["sh", "-c", "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); readlink /proc/$pid/ns/net > \(out)/netns"]]
        let dir = try Self.withHooks(s, name: "hooks", ["prestart": [Self.record(out + "/prestart")], "createRuntime": [netCheck],
                                                        "poststart": [Self.record(out + "/poststart")], "poststop": [Self.record(out + "/poststop")]])
        let oci = [s.binary, "oci", "--root", s.root + "/.oci"]
        let create = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>\(out)/err"] + oci + ["create", "--bundle", dir, "h1"])
        try #require(create.status == 0, "\((try? String(contentsOfFile: out + "/err", encoding: .utf8)) ?? "")")
        let pre = state(out + "/prestart")
        #expect(pre["status"] as? String == "creating" && (pre["pid"] as? Int ?? 0) > 0 && pre["id"] as? String == "h1", "\(pre)")
        let netns = (try? String(contentsOfFile: out + "/netns", encoding: .utf8)) ?? ""
        let hostNet = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? ""
        #expect(netns.hasPrefix("net:[") && netns.trimmingCharacters(in: .whitespacesAndNewlines) != hostNet, "createRuntime saw the container's own network namespace: \(netns)")
        #expect(state(out + "/poststart")["status"] as? String == "created", "poststart runs at the end of create, as in runc 1.1")
        #expect(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["delete", "--force", "h1"]).status == 0)
        #expect(state(out + "/poststop")["status"] as? String == "stopped")

        // A failing createRuntime hook: create fails with the hook named, nothing is left.
        let failing = try Self.withHooks(s, name: "failing", ["createRuntime": [["path": "/bin/sh", "args": ["sh", "-c", "echo no >&2; exit 3"]]]])
        let bad = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>\(out)/err2"] + oci + ["create", "--bundle", failing, "h2"])
        let err = (try? String(contentsOfFile: out + "/err2", encoding: .utf8)) ?? ""
        #expect(bad.status == 1 && err.contains("createRuntime hook #0") && err.contains("status 3"), "\(err)")
        #expect(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["list", "-q"]).stdout.isEmpty)
        // A hook past its timeout is killed and fails the create.
        let slow = try Self.withHooks(s, name: "slow", ["prestart": [["path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1]]])
        let timed = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>\(out)/err3"] + oci + ["create", "--bundle", slow, "h3"])
        #expect(timed.status == 1 && ((try? String(contentsOfFile: out + "/err3", encoding: .utf8)) ?? "").contains("timeout"))
        // startContainer runs inside, right before the process (the differential
        // suite checks where and with what state): one that fails (here: it cannot
        // write to the read-only root) ends the run with its error, as in runc.
        let inside = try Self.withHooks(s, name: "inside", ["startContainer": [Self.record("/x")]])
        let failed = try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["run", "--bundle", inside, "h4"])
        #expect(failed.status == 1 && failed.stderr.contains("error running startContainer hook #0"), "\(failed.stderr)")
        #expect(try Sandbox.exec(oci[0], Array(oci.dropFirst()) + ["list", "-q"]).stdout.isEmpty)
        try s.finish()
    }
}

/// A seccomp agent as engines run one: it listens on a unix socket, gets the
/// listener with the container's state, and answers each notified syscall by
/// pretending it succeeded.
final class SeccompAgent: @unchecked Sendable {
    let listenFD: Int32
    private let lock = NSLock()
    private var _payload = ""
    private var _handled = 0
    private let done = DispatchSemaphore(value: 0)
    var payload: String { lock.withLock { _payload } }
    var handled: Int { lock.withLock { _handled } }

    init(path: String) throws {
        listenFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(rc == 0 && listen(listenFD, 1) == 0, "agent socket \(path): \(String(cString: strerror(errno)))")
        Thread { self.serve(); self.done.signal() }.start()
    }

    /// Waits (bounded) for the agent to finish; it ends when the listener hangs up.
    func wait() { _ = done.wait(timeout: .now() + 20); close(listenFD) }

    private func serve() {
        var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 15_000) == 1 else { return }
        let conn = accept(listenFD, nil, nil)
        guard conn >= 0 else { return }
        defer { close(conn) }
        var buf = [UInt8](repeating: 0, count: 16384)
        var control = [UInt8](repeating: 0, count: 64)
        var got = 0
        let listener: Int32 = buf.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { ctl in
                var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: iovp, msg_iovlen: 1,
                                     msg_control: ctl.baseAddress, msg_controllen: ctl.count, msg_flags: 0)
                    got = recvmsg(conn, &msg, 0)
                    // struct cmsghdr on x86-64: len (8 bytes), level (4), type (4), then the descriptor.
                    guard got > 0, msg.msg_controllen >= 20, ctl.load(fromByteOffset: 12, as: Int32.self) == 1 /* SCM_RIGHTS */ else { return -1 }
                    return ctl.load(fromByteOffset: 16, as: Int32.self)
                }
            }
        }
        // One message (the runtime may keep the connection open: no read to EOF).
        let text = String(decoding: buf.prefix(max(0, got)), as: UTF8.self)
        lock.withLock { _payload = text }
        guard listener >= 0 else { return }
        defer { close(listener) }
        for _ in 0..<50 {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 10_000) == 1, p.revents & Int16(POLLIN) != 0 else { break }
            var notif = [UInt8](repeating: 0, count: 80)        // struct seccomp_notif, zeroed as the kernel requires
            guard ioctl(listener, UInt(0xC050_2100), &notif) == 0 else { break } // SECCOMP_IOCTL_NOTIF_RECV
            var resp = [UInt8](repeating: 0, count: 24)         // struct seccomp_notif_resp: same id, val 0, error 0
            resp.replaceSubrange(0..<8, with: notif[0..<8])
            _ = ioctl(listener, UInt(0xC018_2101), &resp)       // SECCOMP_IOCTL_NOTIF_SEND
            lock.withLock { _handled += 1 }
        }
    }
}

@Suite struct SeccompNotifyTests {
    /// SCMP_ACT_NOTIFY with listenerPath: the agent gets the listener and the
    /// state (runc's message), and its answer is what the process sees; runc
    /// and minirt agree.
    @Test func theAgentAnswersForTheKernel() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let probe = "mkdir /agent-made; echo $?; test -d /agent-made || echo not-made"
        let dir = try OCITests.bundle(s, name: "notify", specBy: ["/usr/sbin/runc"], args: ["sh", "-c", probe])
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                            "listenerPath": s.root + "/.agent.sock", "listenerMetadata": "lesson-agent",
                            "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"]]]
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let runtimes = [("runc", ["/usr/sbin/runc", "--root", s.root + "/.runc"]), ("minirt", [s.binary, "oci", "--root", s.root + "/.oci"])]
        var outputs: [String] = []
        for (name, tool) in runtimes {
            unlink(s.root + "/.agent.sock")
            let agent = try SeccompAgent(path: s.root + "/.agent.sock")
            let o = try Sandbox.exec(tool[0], Array(tool.dropFirst()) + ["run", "--bundle", dir, "notify"], env: s.environment)
            agent.wait()
            #expect(o.status == 0, "\(name): \(o.stderr)")
            #expect(o.stdout == "0\nnot-made\n", "\(name): the agent's answer (success, nothing made) is what mkdir returned: \(o.stdout)")
            #expect(agent.handled >= 1, "\(name): the agent handled no notification")
            let p = agent.payload
            #expect(p.contains("\"seccompFd\"") && p.contains("lesson-agent") && p.contains("\"notify\""), "\(name): the agent's message: \(p)")
            outputs.append(o.stdout)
        }
        #expect(outputs.count == 2 && outputs[0] == outputs[1])
        // Without a listenerPath the profile is refused before anything starts.
        linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"]]]
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let bad = try Sandbox.exec(s.binary, ["oci", "--root", s.root + "/.oci", "run", "--bundle", dir, "notify2"], env: s.environment)
        #expect(bad.status == 1 && bad.stderr.contains("listenerPath"), "\(bad.stderr)")
        try s.finish()
    }
}
