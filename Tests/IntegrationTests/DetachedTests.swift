import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Detached containers under minirt-supervisor: run -d, logs, stop, kill,
/// start, wait, restart policies, and what happens when things die badly.
@Suite struct DetachedTests {
    func inspect(_ s: Sandbox, _ format: String, _ name: String) throws -> String {
        try s.minirt("inspect", "-f", format, name).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Exited (a zombie until init, its parent, reaps it) or reaped.
    func gone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// Polls (bounded) until `check` holds.
    func eventually(_ what: String, seconds: Double = 10, _ check: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try check() { return }
            usleep(50_000)
        }
        Issue.record("not within \(seconds)s: \(what)")
    }

    /// `logs -f` prints what a running container writes after it started, on
    /// through rotations, each line once and in order, and returns once the
    /// container has exited and all is read.
    @Test func logsFollowStreamsAcrossRotationsUntilTheExit() throws {
        let s = try Sandbox()
        let run = try s.minirt("run", "-d", "--name", "talk", "--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=8",
                               "busybox", "sh", "-c", "sleep 0.3; for i in $(seq 40); do echo line $i; sleep 0.02; done")
        try #require(run.status == 0, "\(run.stderr)")
        let id = try s.id(of: "talk")
        let followed = try s.minirt("logs", "-f", "talk")
        #expect(followed.status == 0, "\(followed.stderr)")
        #expect(followed.lines == (1...40).map { "line \($0)" }, "\(followed.stdout)")
        let rotated = try FileManager.default.contentsOfDirectory(atPath: s.root + "/" + id).filter { $0.hasPrefix("container.log.") }
        #expect(!rotated.isEmpty, "the output was meant to rotate at least once")
        #expect(try inspect(s, "{{.State.Status}}", "talk") == "exited")
        try s.minirt("rm", "talk")
        try s.finish()
    }

    /// A restart policy waits docker's delay before each attempt (100 ms,
    /// doubled each time): a container that fails at once restarts a few times
    /// in its first seconds, not in a tight loop. While it waits it shows as
    /// restarting (inspect, ls, --filter), rm refuses it without -f, and stop
    /// ends it for good at once, its supervisor with it.
    @Test func restartsBackOffAndShowAsRestarting() throws {
        let s = try Sandbox()
        let run = try s.minirt("run", "-d", "--name", "loop", "--network", "none", "--restart", "always", "busybox", "sh", "-c", "exit 3")
        try #require(run.status == 0, "\(run.stderr)")
        let id = try s.id(of: "loop")
        // Waits of 0.1, 0.2, 0.4 and 0.8 s: at most five starts in 1.6 s (without them, dozens).
        usleep(1_600_000)
        let count = Int(try inspect(s, "{{.RestartCount}}", "loop")) ?? -1
        #expect((1...6).contains(count), "\(count) restarts in 1.6 s")
        // Each check may land in one of its few-ms runs between waits: each is retried (bounded).
        try eventually("inspect says restarting") {
            try inspect(s, "{{.State.Status}} {{.State.Restarting}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}", "loop") == "restarting true true 3 0"
        }
        let supervisor = try #require(Int32(try inspect(s, "{{.State.SupervisorPid}}", "loop")))
        #expect(supervisor > 0 && !gone(supervisor), "the supervisor waits with it")
        try eventually("listed as docker ps lists it") { try s.minirt("ls").stdout.contains("Restarting (3) ") }
        try eventually("the status filter") { try s.minirt("ls", "-q", "--filter", "status=restarting").stdout == String(id.prefix(12)) + "\n" }
        // wait counts the restart's delay as running: it returns with the next attempt's exit.
        let before = Int(try inspect(s, "{{.RestartCount}}", "loop")) ?? -1
        #expect(try s.minirt("wait", "loop").stdout == "3\n")
        #expect((Int(try inspect(s, "{{.RestartCount}}", "loop")) ?? -1) > before, "wait returned before the next attempt ended")
        try eventually("exec says why it cannot") {
            let exec = try s.minirt("exec", "loop", "true")
            #expect(exec.status != 0)
            return exec.stderr.contains("container loop is restarting: wait until it runs")
        }
        try eventually("rm refuses a restarting container") {
            let rm = try s.minirt("rm", "loop")
            #expect(rm.status != 0, "rm without -f removed it")
            return rm.stderr.contains("container is restarting: stop it first")
        }

        let stop = try s.minirt("stop", "loop")
        #expect(stop.status == 0 && stop.stdout == "loop\n", "\(stop.stderr)")
        #expect(try inspect(s, "{{.State.Status}} {{.State.Restarting}}", "loop") == "exited false")
        #expect(gone(supervisor), "its supervisor went with the stop")
        let stopped = try inspect(s, "{{.RestartCount}}", "loop")
        usleep(300_000)
        #expect(try inspect(s, "{{.RestartCount}}", "loop") == stopped, "no start after the stop")
        // start brings it back under a new supervisor (and the policy with it); rm -f ends that too.
        #expect(try s.minirt("start", "loop").status == 0)
        try eventually("restarting again") { try inspect(s, "{{.State.Status}}", "loop") == "restarting" }
        let again = try #require(Int32(try inspect(s, "{{.State.SupervisorPid}}", "loop")))
        #expect(try s.minirt("rm", "-f", "loop").status == 0)
        #expect(gone(again), "rm -f ends the waiting supervisor")
        try s.finish()
    }

    @Test func detachedServerAnswersLogsAndStops() throws {
        let s = try Sandbox()
        let run = try s.minirt("run", "-d", "--name", "web", "-p", "8090:80", "busybox", "sh", "-c",
                               "echo to-stdout; echo to-stderr >&2; mkdir /www; echo served > /www/index.html; trap 'echo bye; exit 3' TERM; httpd -f -p 80 -h /www & wait")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.count == 65 && run.stdout.hasSuffix("\n"), "the full id: \(run.stdout)")
        let id = try s.id(of: "web")
        #expect(run.stdout == id + "\n")
        // The terminal that started it is gone: minirt run -d has exited, the container serves.
        #expect(try s.fetch("http://127.0.0.1:8090/") == "served\n")
        #expect(try s.minirt("ls").stdout.contains("Up "))
        try eventually("logs") { try s.minirt("logs", "web").stdout.contains("to-stdout") }
        let logs = try s.minirt("logs", "web")
        #expect(logs.stdout == "to-stdout\n" && logs.stderr == "to-stderr\n", "\(logs.stdout) | \(logs.stderr)")
        let tail = try s.minirt("logs", "--tail", "1", "-t", "web")
        #expect(tail.stdout.isEmpty && tail.stderr.hasSuffix("Z to-stderr\n"), "the last entry only, with its time: \(tail.stderr)")
        let raw = try String(contentsOfFile: "\(s.root)/\(id)/container.log", encoding: .utf8)
        #expect(raw.hasPrefix("{\"log\":\"to-stdout\\n\",\"stream\":\"stdout\",\"time\":\"20"), "json-file format: \(raw)")

        let stop = try s.minirt("stop", "-t", "5", "web")
        #expect(stop.status == 0 && stop.stdout == "web\n")
        #expect(try inspect(s, "{{.State.Status}} {{.State.ExitCode}}", "web") == "exited 3")
        #expect(try s.minirt("logs", "web").stdout.hasSuffix("bye\n"))
        #expect(try s.minirt("wait", "web").stdout == "3\n")
        #expect(try s.minirt("ls", "-a").stdout.contains("Exited (3)"))

        // start brings it back with its config, networking set up again, ports held again.
        #expect(try s.minirt("start", "web").status == 0)
        #expect(try s.fetch("http://127.0.0.1:8090/") == "served\n")
        #expect(try s.minirt("start", "web").stderr.contains("already running"))
        let taken = try s.minirt("run", "-d", "-p", "8090:80", "busybox", "true")
        #expect(taken.status == 125 && taken.stderr.contains("already allocated"), "the supervisor holds the port: \(taken.stderr)")
        #expect(try s.minirt("kill", "-s", "TERM", "web").status == 0)
        #expect(try s.minirt("wait", "web").stdout == "3\n")
        #expect(try s.minirt("rm", "web").status == 0)
        try s.finish()
    }

    @Test func killedSupervisorThenContainerIsSeenExitedAndRmCleansUp() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "victim", "-p", "8091:80", "busybox", "sleep", "60").status == 0)
        _ = try s.id(of: "victim")
        let sup = Int32(try inspect(s, "{{.State.SupervisorPid}}", "victim")) ?? 0
        let pid = Int32(try inspect(s, "{{.State.Pid}}", "victim")) ?? 0
        let stateJSON = try inspect(s, "{{json .State}}", "victim")
        #expect(sup > 0 && pid > 0, "\(stateJSON)")
        if sup > 0 { kill(sup, SIGKILL) }
        usleep(100_000)
        #expect(try s.minirt("ls").stdout.contains("victim"), "the container outlives its supervisor")
        if pid > 0 { kill(pid, SIGKILL) }
        try eventually("ls shows it exited") { !(try s.minirt("ls").stdout.contains("victim")) }
        #expect(try inspect(s, "{{.State.Status}}", "victim") == "exited")
        #expect(try s.minirt("rm", "victim").status == 0)
        try s.finish()
    }

    @Test func detachedWithRmRemovesEverythingOnExit() throws {
        let s = try Sandbox()
        let run = try s.minirt("run", "-d", "--rm", "--name", "brief", "-p", "8092:80", "busybox", "sleep", "0.3")
        #expect(run.status == 0, "\(run.stderr)")
        eventually("--rm removed it") { s.containerFolders().isEmpty }
        #expect(try s.minirt("inspect", "brief").status == 1)
        try s.finish()
    }

    /// The supervisor reads the cgroup's OOM-kill counter when the init exits.
    @Test func supervisorRecordsAnOutOfMemoryKill() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "hog", "--network", "none", "-m", "32m", "--memory-swap", "32m", "busybox",
                             "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)").status == 0)
        let id = try s.id(of: "hog")
        #expect(try s.minirt("wait", "hog").stdout == "137\n")
        #expect(try inspect(s, "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog") == "true 137")
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/minirt/\(id)"), "the supervisor removes the cgroup")
        #expect(try s.minirt("rm", "hog").status == 0)
        try s.finish()
    }

    /// `-d -t`: the supervisor holds the pty master and logs what the terminal shows;
    /// `-dit sh` keeps a shell waiting for input, as with docker.
    @Test func detachedWithATerminal() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "-t", "--name", "tty", "--network", "none", "busybox", "sh", "-c", "tty; echo hello").status == 0)
        _ = try s.id(of: "tty")
        #expect(try s.minirt("wait", "tty").stdout == "0\n")
        let logs = try s.minirt("logs", "tty").stdout
        #expect(logs.contains("/dev/pts/0") && logs.contains("hello"), "\(logs)")
        #expect(try s.minirt("run", "-dit", "--name", "box", "--network", "none", "busybox", "sh").status == 0)
        _ = try s.id(of: "box")
        _ = try s.waitForPid("box")
        usleep(300_000)
        #expect(try inspect(s, "{{.State.Status}} {{.Config.Tty}}", "box") == "running true", "an interactive shell on a pty waits")
        #expect(try s.minirt("exec", "box", "sh", "-c", "ls -l /proc/1/fd/0").stdout.contains("/dev/pts/0"))
        #expect(try s.minirt("rm", "-f", "tty", "box").status == 0)
        try s.finish()
    }

    @Test func onFailureRestartsExactlyAsOftenAsAsked() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "--network", "none",
                             "busybox", "sh", "-c", "echo attempt; exit 4").status == 0)
        try eventually("two restarts then exited") {
            try inspect(s, "{{.State.Status}} {{.RestartCount}}", "flaky") == "exited 2"
        }
        usleep(300_000) // a third start would show up here
        #expect(try inspect(s, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "flaky") == "exited 2 4")
        #expect(try s.minirt("logs", "flaky").stdout == "attempt\nattempt\nattempt\n")
        #expect(try s.minirt("rm", "flaky").status == 0)
        try s.finish()
    }

    @Test func alwaysRestartsUntilStopped() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "phoenix", "--restart", "always", "--network", "none",
                             "busybox", "sh", "-c", "sleep 0.2; exit 0").status == 0)
        try eventually("restarted at least twice") { (Int(try inspect(s, "{{.RestartCount}}", "phoenix")) ?? 0) >= 2 }
        #expect(try s.minirt("stop", "-t", "1", "phoenix").status == 0)
        let count = try inspect(s, "{{.RestartCount}}", "phoenix")
        usleep(600_000)
        #expect(try inspect(s, "{{.State.Status}} {{.RestartCount}}", "phoenix") == "exited \(count)", "stop ends the restarts")
        #expect(try s.minirt("rm", "phoenix").status == 0)
        try s.finish()
    }

    @Test func twentyParallelDetachedRunsAndRemovalsLeaveNothing() throws {
        let s = try Sandbox()
        let n = 20
        let runs = try (0..<n).map { i in try s.start(["run", "-d", "--name", "p\(i)", "busybox", "sleep", "60"]) }
        for p in runs { p.waitUntilExit() }
        #expect(runs.allSatisfy { $0.terminationStatus == 0 })
        for i in 0..<n { _ = try s.id(of: "p\(i)") }
        #expect(try s.minirt("ls", "-q").lines.count == n)
        let ips = try (0..<n).map { try inspect(s, "{{.NetworkSettings.IPAddress}}", "p\($0)") }
        #expect(Set(ips).count == n, "no two containers share an address: \(ips)")
        let errs = (0..<n).map { _ in Pipe() }
        let rms = try (0..<n).map { i in try s.start(["rm", "-f", "p\(i)"], stderr: errs[i]) }
        for (i, p) in rms.enumerated() {
            p.waitUntilExit()
            let err = String(decoding: errs[i].fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus == 0, "rm -f p\(i): \(err)")
        }
        #expect(try s.minirt("ls", "-aq").lines.isEmpty)
        try eventually("supervisors gone") {
            (try Sandbox.exec("/usr/bin/pgrep", ["-f", "minirt-supervisor \(s.root)"]).stdout).isEmpty
        }
        try s.finish()
    }

    @Test func gcReleasesWhatACrashLeftAndPruneRemovesStoppedContainers() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "crashy", "-p", "8093:80", "busybox", "sleep", "60").status == 0)
        let id = try s.id(of: "crashy")
        let sup = Int32(try inspect(s, "{{.State.SupervisorPid}}", "crashy")) ?? 0
        let pid = Int32(try inspect(s, "{{.State.Pid}}", "crashy")) ?? 0
        if sup > 0 { kill(sup, SIGKILL) }
        if pid > 0 { kill(pid, SIGKILL) }
        try eventually("seen exited") { try inspect(s, "{{.State.Status}}", "crashy") == "exited" }
        #expect(FileManager.default.fileExists(atPath: "/var/run/netns/minirt-\(id.prefix(12))"), "the crash left the attachment")
        // A lease whose container no longer exists at all.
        let stale = "\(s.root)/.ipam/bridge/10.99.7.7"
        try (String(repeating: "ab", count: 32) + "\neth0").write(toFile: stale, atomically: true, encoding: .utf8)
        let gc = try s.minirt("system", "gc")
        #expect(gc.stdout.contains("released the network of crashy") && gc.stdout.contains("released what container abababababab left (leases 10.99.7.7"), "\(gc.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "/var/run/netns/minirt-\(id.prefix(12))"))
        #expect(try s.host("ip", "-o", "link", "show", "type", "veth").stdout.isEmpty)
        #expect(try inspect(s, "{{.State.Status}}", "crashy") == "exited", "gc keeps the record")
        #expect(try s.minirt("run", "--name", "done", "--network", "none", "busybox", "true").status == 0)
        let prune = try s.minirt("system", "prune", "-f")
        #expect(prune.stdout.contains(id) && prune.stdout.contains("Total reclaimed containers: 2"), "\(prune.stdout)")
        #expect(try s.minirt("ls", "-aq").stdout.isEmpty)
        try s.finish()
    }

    @Test func containerKilledUnderItsSupervisorIsRecorded() throws {
        let s = try Sandbox()
        try #require(try s.minirt("run", "-d", "--name", "k9", "--network", "none", "busybox", "sleep", "60").status == 0)
        let pid = Int32(try inspect(s, "{{.State.Pid}}", "k9")) ?? 0
        if pid > 0 { kill(pid, SIGKILL) }
        try eventually("the supervisor recorded the kill") { try inspect(s, "{{.State.Status}} {{.State.ExitCode}}", "k9") == "exited 137" }
        #expect(try s.minirt("ls", "-a").stdout.contains("Exited (137)"))
        #expect(try s.minirt("rm", "k9").status == 0)
        try s.finish()
    }

    @Test func noDescriptorOfMinirtReachesTheContainer() throws {
        let s = try Sandbox()
        // ls itself opens one descriptor (3) to read the folder; nothing else may be there.
        let fg = try s.minirt("run", "--rm", "--network", "none", "busybox", "ls", "/proc/self/fd")
        #expect(fg.lines == ["0", "1", "2", "3"], "foreground: \(fg.stdout)")
        try #require(try s.minirt("run", "-d", "--name", "fds", "-p", "8094:80", "busybox", "sh", "-c", "ls /proc/self/fd; sleep 60").status == 0)
        try eventually("logged") { try s.minirt("logs", "fds").lines.count >= 4 }
        #expect(try s.minirt("logs", "fds").lines == ["0", "1", "2", "3"], "detached, with held ports")
        #expect(try s.minirt("exec", "fds", "ls", "/proc/self/fd").lines == ["0", "1", "2", "3"], "exec")
        #expect(try s.minirt("rm", "-f", "fds").status == 0)
        try s.finish()
    }

    @Test func badLifecycleInputIsRefused() throws {
        let s = try Sandbox()
        func refused(_ args: [String], _ code: Int32, _ mentions: String) throws {
            let o = try s.minirt(args)
            #expect(o.status == code, "\(args): \(o.status) \(o.stderr)")
            #expect(o.stderr.contains(mentions) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        try refused(["run", "-d", "--restart", "sometimes", "busybox", "true"], 125, "invalid restart policy \"sometimes\"")
        try refused(["run", "-d", "--restart", "on-failure:x", "busybox", "true"], 125, "invalid restart policy")
        try refused(["run", "--restart", "always", "busybox", "true"], 125, "needs -d")
        try refused(["run", "-d", "--rm", "--restart", "always", "busybox", "true"], 125, "conflicting options")
        try refused(["stop", "ghost"], 1, "no such container: ghost")
        try refused(["logs", "ghost"], 1, "no such container: ghost")
        try refused(["kill", "-s", "NOPE", "ghost"], 1, "invalid signal \"NOPE\"")
        #expect(s.containerFolders().isEmpty)
        try #require(try s.minirt("run", "-d", "--name", "up", "--network", "none", "busybox", "sleep", "60").status == 0)
        try refused(["start", "up"], 1, "already running")
        try refused(["rm", "up"], 1, "container is running")
        #expect(try s.minirt("rm", "-f", "up").status == 0)
        try refused(["logs", "up"], 1, "no such container: up")
        try s.finish()
    }
}
