import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// docker run flags beyond networking and confinement: labels (and ls --filter),
/// --stop-signal/--stop-timeout, --shm-size, --annotation, --expose, --cidfile.
@Suite struct DockerFlagsTests {
    @Test func labelsFilterAndInspect() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let file = s.root + "/.labels"
        try "# team labels\ntier=web\n\nowner=ops\n".write(toFile: file, atomically: true, encoding: .utf8)
        try #require(try s.minirt("run", "-d", "--name", "a", "--network", "none", "-l", "app=shop", "--label-file", file,
                                  "busybox", "sleep", "300").status == 0)
        try #require(try s.minirt("run", "-d", "--name", "b", "--network", "none", "--label", "app=blog", "busybox", "sleep", "300").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{json .Config.Labels}}", "a").stdout == "{\"app\":\"shop\",\"owner\":\"ops\",\"tier\":\"web\"}\n")
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--format", "{{.Names}}").stdout == "a\n")
        #expect(try s.minirt("ls", "--filter", "label=app", "--format", "{{.Names}}").lines.sorted() == ["a", "b"])
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--filter", "label=app=blog", "--format", "{{.Names}}").lines.sorted() == ["a", "b"])
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--filter", "name=b", "--format", "{{.Names}}").stdout.isEmpty)
        try s.minirt("stop", "-t", "0", "b")
        #expect(try s.minirt("ls", "--filter", "status=exited", "--format", "{{.Names}}").stdout == "b\n")
        let bad = try s.minirt("ls", "--filter", "colour=red")
        #expect(bad.status == 1 && bad.stderr.contains("invalid filter"))
        try s.minirt("rm", "-f", "a", "b")
        try s.finish()
    }

    /// --init: minirt-init is PID 1, forwards stop's SIGTERM to a command that
    /// would ignore it as PID 1, reaps orphans, and cannot be rewritten from inside.
    @Test func initForwardsSignalsAndReaps() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let ps = try s.minirt("run", "--rm", "--network", "none", "--init", "busybox", "ps", "-o", "pid,comm")
        #expect(ps.status == 0 && ps.lines.dropFirst().map { $0.split(separator: " ").map(String.init) } == [["1", "minirt-init"], ["2", "ps"]], "\(ps.stdout) \(ps.stderr)")
        // Exit codes come through: the command's, 128+N for a signal, 127 for a missing command.
        #expect(try s.minirt("run", "--rm", "--network", "none", "--init", "busybox", "sh", "-c", "exit 7").status == 7)
        #expect(try s.minirt("run", "--rm", "--network", "none", "--init", "busybox", "sh", "-c", "kill -TERM $$").status == 143)
        let missing = try s.minirt("run", "--rm", "--network", "none", "--init", "busybox", "no-such-command")
        #expect(missing.status == 127 && missing.stderr.contains("no-such-command"), "\(missing.stderr)")
        // The binary is read-only inside, by its path and through /proc/1/exe.
        let write = try s.minirt("run", "--rm", "--network", "none", "--init", "busybox", "sh", "-c",
                                 "echo x > /sbin/minirt-init; echo x > /proc/1/exe; exit 0")
        #expect(write.stderr.components(separatedBy: "Read-only file system").count == 3, "\(write.stderr)")

        // sleep as PID 1 ignores SIGTERM (137 after the timeout); under the init it gets it (143).
        try #require(try s.minirt("run", "-d", "--name", "plain", "--network", "none", "--stop-timeout", "1", "busybox",
                                  "sh", "-c", "(sleep 0.1 &); exec sleep 300").status == 0)
        try #require(try s.minirt("run", "-d", "--name", "inited", "--network", "none", "--init", "busybox",
                                  "sh", "-c", "(sleep 0.1 &); exec sleep 300").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.HostConfig.Init}} {{.Path}}", "inited").stdout == "true sh\n")
        #expect(try s.minirt("inspect", "-f", "{{.HostConfig.Init}}", "plain").stdout == "<nil>\n")
        // The orphaned sleep: a zombie of the non-reaping PID 1, reaped by the init.
        func zombies(_ name: String) throws -> Int {
            try s.minirt("exec", name, "ps", "-o", "stat").lines.filter { $0.hasPrefix("Z") }.count
        }
        var plainZombies = 0
        for _ in 0..<50 where plainZombies == 0 { usleep(100_000); plainZombies = try zombies("plain") }
        #expect(plainZombies == 1)
        #expect(try zombies("inited") == 0)
        try s.minirt("stop", "plain", "inited")
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "plain").stdout == "137\n")
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "inited").stdout == "143\n")
        try s.minirt("rm", "plain", "inited")
        try s.finish()
    }

    /// --device and --device-cgroup-rule: the node appears, and the device cgroup allows what was asked only.
    @Test func devicesAndCgroupRules() throws {
        let s = try Sandbox(isolatedNetwork: false)
        // Nodes of our own making (no host device is needed: a cgroup refusal is EPERM, a missing driver is not).
        let node = s.root + "/.tun"
        try #require(mknod(node, S_IFCHR | 0o666, dev_t(10 << 8 | 200)) == 0) // makedev(10, 200)
        defer { unlink(node) }
        chmod(node, 0o666)
        let r = try s.minirt("run", "--rm", "--network", "none", "--device", node + ":/dev/xtun:r", "busybox", "sh", "-c",
                             "ls -l /dev/xtun; exec 3</dev/xtun; echo read=$?; exec 4>/dev/xtun; echo write=$?")
        #expect(r.stdout.hasPrefix("crw-rw-rw-") && r.stdout.contains("10, 200"), "\(r.stdout)")
        #expect(r.stderr.contains("can't create /dev/xtun: Operation not permitted"), "\(r.stderr)")
        #expect(!r.stderr.contains("can't open /dev/xtun: Operation not permitted"), "\(r.stderr)")
        // A directory: every device below it, under the path inside.
        let devs = s.root + "/.devs"
        try FileManager.default.createDirectory(atPath: devs + "/sub", withIntermediateDirectories: true)
        try #require(mknod(devs + "/a", S_IFCHR | 0o666, dev_t(10 << 8 | 200)) == 0 && mknod(devs + "/sub/b", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        try "not a device".write(toFile: devs + "/note", atomically: true, encoding: .utf8)
        let dir = try s.minirt("run", "--rm", "--network", "none", "--device", devs + ":/dev/mine", "busybox", "sh", "-c",
                               "ls -l /dev/mine/a /dev/mine/sub/b; test -e /dev/mine/note || echo no-note")
        #expect(dir.stdout.contains("10, 200") && dir.stdout.contains("1,   3") && dir.stdout.contains("no-note"), "\(dir.stdout)\(dir.stderr)")
        // A block device the container makes itself: refused without a rule, allowed with one.
        let make = "mknod /tmp/blk b 7 250 && exec 3</tmp/blk"
        let denied = try s.minirt("run", "--rm", "--network", "none", "busybox", "sh", "-c", make)
        #expect(denied.stderr.contains("Operation not permitted"), "\(denied.stderr)")
        let allowed = try s.minirt("run", "--rm", "--network", "none", "--device-cgroup-rule", "b 7:* rm", "busybox", "sh", "-c", make)
        #expect(!allowed.stderr.contains("Operation not permitted"), "\(allowed.stderr)")
        try #require(try s.minirt("create", "--name", "d", "--network", "none", "--device", node + ":/dev/xtun:rw",
                                  "--device-cgroup-rule", "c 10:200 r", "busybox", "true").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{json .HostConfig.Devices}} {{json .HostConfig.DeviceCgroupRules}}", "d").stdout
                == "[{\"PathOnHost\":\"\(node)\",\"PathInContainer\":\"/dev/xtun\",\"CgroupPermissions\":\"rw\"}] [\"c 10:200 r\"]\n")
        for bad in [["--device", "/etc/hostname"], ["--device", node + ":dev/x"], ["--device-cgroup-rule", "c 1:3 rwx"]] {
            let out = try s.minirt(["run", "--rm", "--network", "none"] + bad + ["busybox", "true"])
            #expect(out.status == 125 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        try s.minirt("rm", "d")
        try s.finish()
    }

    /// --health-*: checks run by the supervisor in the container; State.Health,
    /// ls STATUS and --filter health follow them; a timeout kills the check.
    @Test func healthChecks() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(try s.minirt("run", "-d", "--name", "h", "--network", "none", "--health-cmd", "cat /tmp/ok",
                                  "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "300").status == 0)
        func status() throws -> String { try s.minirt("inspect", "-f", "{{.State.Health.Status}}", "h").stdout.trimmingCharacters(in: .newlines) }
        func waitFor(_ wanted: String) throws -> String {
            var now = try status()
            for _ in 0..<100 where now != wanted { usleep(100_000); now = try status() }
            return now
        }
        #expect(try s.minirt("ls", "--format", "{{.Status}}").stdout.hasSuffix("(health: starting)\n"))
        #expect(try waitFor("unhealthy") == "unhealthy")
        #expect(try s.minirt("ls", "--format", "{{.Status}}").stdout.hasSuffix("(unhealthy)\n"))
        let failing = try s.minirt("inspect", "-f", "{{json .State.Health}}", "h").stdout
        #expect(failing.contains("\"ExitCode\":1") && failing.contains("No such file or directory"), "\(failing)")
        try s.minirt("exec", "h", "sh", "-c", "echo fine > /tmp/ok")
        #expect(try waitFor("healthy") == "healthy")
        #expect(try s.minirt("inspect", "-f", "{{.State.Health.FailingStreak}}", "h").stdout == "0\n")
        #expect(try s.minirt("ls", "--filter", "health=healthy", "--format", "{{.Names}}").stdout == "h\n")
        #expect(try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "event=health_status", "--format", "{{.Action}}").lines
                == ["health_status: unhealthy", "health_status: healthy"])
        #expect(try s.minirt("ls", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout.isEmpty)
        #expect(try s.minirt("inspect", "-f", "{{json .Config.Healthcheck}}", "h").stdout == "{\"Test\":[\"CMD-SHELL\",\"cat /tmp/ok\"],\"Interval\":200000000,\"Retries\":2}\n")

        // A check that outlives its timeout is killed and counts as a failure (-1).
        try #require(try s.minirt("run", "-d", "--name", "slow", "--network", "none", "--health-cmd", "sleep 30",
                                  "--health-timeout", "300ms", "--health-interval", "100ms", "--health-retries", "1", "busybox", "sleep", "300").status == 0)
        var slow = ""
        for _ in 0..<100 where !slow.contains("exceeded timeout") { usleep(100_000); slow = try s.minirt("inspect", "-f", "{{json .State.Health}}", "slow").stdout }
        #expect(slow.contains("\"ExitCode\":-1") && slow.contains("Health check exceeded timeout (300ms)") && slow.contains("\"Status\":\"unhealthy\""), "\(slow)")
        // The killed check is gone from the container.
        let ps = try s.minirt("exec", "slow", "ps", "-o", "args")
        #expect(ps.lines.filter { $0 == "sleep 30" }.count <= 1, "\(ps.stdout)")

        // The image's Healthcheck is honoured, --no-healthcheck turns it off.
        let folder = s.root + "/.image"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try #require(try Sandbox.exec("/bin/cp", ["-a", Sandbox.images + "/busybox/rootfs", folder + "/rootfs"]).status == 0)
        try #"{"config": {"Cmd": ["sleep", "300"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 100000000}}}"#
            .write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let image = "health-test-\(getpid())"
        try #require(try s.minirt("image", "import", folder, image).status == 0)
        defer { _ = try? Sandbox.exec(Sandbox.binary, ["--root", s.root, "--images", Sandbox.images, "image", "rm", "-f", image]) } // runs after finish(), without its netns
        try #require(try s.minirt("run", "-d", "--name", "img", "--network", "none", image).status == 0)
        var fromImage = ""
        for _ in 0..<100 where fromImage != "healthy\n" { usleep(100_000); fromImage = try s.minirt("inspect", "-f", "{{.State.Health.Status}}", "img").stdout }
        #expect(fromImage == "healthy\n")
        try #require(try s.minirt("run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", image).status == 0)
        #expect(!(try s.minirt("inspect", "-f", "{{json .State}}", "off").stdout.contains("Health")), "no check, no State.Health (as docker)")
        #expect(try s.minirt("ls", "--filter", "health=none", "--format", "{{.Names}}").stdout == "off\n")

        for bad in [["--no-healthcheck", "--health-cmd", "true"], ["--health-cmd", "true", "--health-interval", "5"],
                    ["--health-retries", "-2", "--health-cmd", "true"], ["--health-timeout", "1s"]] {
            let out = try s.minirt(["run", "--rm", "--network", "none"] + bad + ["busybox", "true"])
            #expect(out.status == 125 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        #expect(try s.minirt("ls", "--filter", "health=sick").status == 1)
        try s.minirt("rm", "-f", "h", "slow", "img", "off")
        try s.finish()
    }

    /// A foreground run's health is checked by its own `minirt run`, on the same schedule.
    @Test func foregroundRunsAreCheckedToo() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let run = try s.start(["run", "--name", "fg", "--network", "none", "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms",
                               "--health-retries", "1", "busybox", "sh", "-c", "sleep 0.5; touch /tmp/ok; sleep 3"])
        var seen: [String] = []
        for _ in 0..<60 where !seen.contains("healthy") {
            usleep(100_000)
            let now = try s.minirt("inspect", "-f", "{{.State.Health.Status}}", "fg").stdout.trimmingCharacters(in: .newlines)
            if seen.last != now { seen.append(now) }
        }
        #expect(seen.contains("unhealthy") && seen.last == "healthy", "\(seen)")
        #expect(run.terminationStatus == 0)
        try s.minirt("rm", "fg")
        try s.finish()
    }

    /// --log-opt max-size/max-file rotate the log as docker's json-file does (logs
    /// reads the rotated files too, oldest first); --log-driver none keeps none;
    /// logs --since/--until keep a time window.
    @Test func logRotationDriversAndWindow() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(try s.minirt("run", "-d", "--name", "lg", "--network", "none", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox",
                                  "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done").status == 0)
        #expect(try s.minirt("wait", "lg").stdout == "0\n")
        let id = try s.id(of: "lg")
        let files = try FileManager.default.contentsOfDirectory(atPath: s.root + "/" + id).filter { $0.hasPrefix("container.log") }.sorted()
        #expect(files == ["container.log", "container.log.1", "container.log.2"], "\(files)")
        for f in files {
            let size = (try FileManager.default.attributesOfItem(atPath: s.root + "/\(id)/" + f)[.size] as? Int) ?? 0
            #expect(size <= 2048, "\(f): \(size) bytes")
        }
        // What is kept is the newest, in order, ending at the last line.
        let lines = try s.minirt("logs", "lg").lines
        let numbers = lines.compactMap { Int($0.dropFirst(5)) }
        #expect(numbers.count == lines.count && numbers.last == 199 && numbers == Array((200 - numbers.count)..<200) && numbers.count < 200, "\(lines.prefix(3))")
        #expect(try s.minirt("logs", "--tail", "2", "lg").lines == ["line 198", "line 199"])
        #expect(try s.minirt("logs", "--since", "1h", "lg").lines == lines)
        #expect(try s.minirt("logs", "--since", "0s", "lg").stdout.isEmpty)
        #expect(try s.minirt("logs", "--until", "1h", "lg").stdout.isEmpty)
        #expect(try s.minirt("inspect", "-f", "{{json .HostConfig.LogConfig}}", "lg").stdout == "{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"3\",\"max-size\":\"2k\"}}\n")

        try #require(try s.minirt("run", "-d", "--name", "quiet", "--network", "none", "--log-driver", "none", "busybox", "echo", "hidden").status == 0)
        #expect(try s.minirt("wait", "quiet").stdout == "0\n")
        let none = try s.minirt("logs", "quiet")
        #expect(none.status == 1 && none.stderr.contains("does not support reading"), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.root + "/" + (try s.id(of: "quiet")) + "/container.log"))
        #expect(try s.minirt("run", "--rm", "--network", "none", "--log-driver", "local", "busybox", "echo", "local").stdout == "local\n")
        for bad in [["--log-driver", "syslog"], ["--log-driver", "bogus"], ["--log-opt", "max-size=0"], ["--log-opt", "max-file=0"],
                    ["--log-opt", "colour=red"], ["--log-driver", "none", "--log-opt", "max-size=1m"], ["--log-opt", "compress=true"]] {
            let out = try s.minirt(["run", "--rm", "--network", "none"] + bad + ["busybox", "true"])
            #expect(out.status == 125 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        #expect(try s.minirt("logs", "--since", "yesterday", "lg").status == 1)
        try s.minirt("rm", "lg", "quiet")
        try s.finish()
    }

    /// -a shows only the streams asked for; --sig-proxy=false keeps minirt run's
    /// signals from the container; --cgroup-parent places its cgroup; -q and
    /// --userns host are accepted, modes other than host and auto refused (auto: UserNamespaceTests).
    @Test func attachSigProxyCgroupParent() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let both = ["busybox", "sh", "-c", "echo out; echo err >&2"]
        let errOnly = try s.minirt(["run", "--rm", "--network", "none", "-a", "stderr"] + both)
        #expect(errOnly.stdout.isEmpty && errOnly.stderr == "err\n", "\(errOnly)")
        let outOnly = try s.minirt(["run", "--rm", "--network", "none", "-a", "STDOUT", "-q"] + both)
        #expect(outOnly.stdout == "out\n" && outOnly.stderr.isEmpty, "\(outOnly)")
        // Not shown is still logged.
        try #require(try s.minirt(["run", "--name", "logged", "--network", "none", "-a", "stdout"] + both).status == 0)
        #expect(try s.minirt("logs", "logged").stderr == "err\n")

        // SIGTERM to minirt run: passed on by default (the trap answers), kept with --sig-proxy=false.
        let script = "trap 'echo got; exit 5' TERM; sleep 2 & wait; echo slept"
        for (proxy, expected, code) in [("true", "got\n", Int32(5)), ("false", "slept\n", Int32(0))] {
            let pipe = Pipe()
            let run = try s.start(["run", "--rm", "--network", "none", "--sig-proxy", proxy, "busybox", "sh", "-c", script], stdout: pipe)
            // Once the container runs (its init is in the state), signal minirt run itself.
            var running = false
            for _ in 0..<100 where !running { usleep(50_000); running = (try s.minirt("ls", "-q").stdout).count > 0 }
            usleep(200_000)
            kill(run.processIdentifier, SIGTERM)
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(out == expected && run.terminationStatus == code, "--sig-proxy \(proxy): \(out)")
        }

        let parent = "minirt/test-parent-\(getpid())"
        let cg = try s.minirt("run", "--rm", "--network", "none", "--cgroup-parent", "/" + parent, "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
        #expect(cg.lines.contains { $0.contains(":/\(parent)/") }, "\(cg.stdout)")
        // The parent is the user's to remove (as with docker); the container's own cgroup went with it.
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let path = "/sys/fs/cgroup/\(dir)/\(parent)"
            if FileManager.default.fileExists(atPath: path) {
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).allSatisfy { $0.count != 64 }, "no container cgroup left in \(path)")
                rmdir(path)
            }
        }
        #expect(try s.minirt("run", "--rm", "--network", "none", "--userns", "host", "busybox", "true").status == 0)
        for bad in [["--userns", "nomap"], ["--cgroup-parent", "/a/../b"], ["-a", "stdall"], ["-d", "-a", "stdout"]] {
            let out = try s.minirt(["run", "--rm", "--network", "none"] + bad + ["busybox", "true"])
            #expect(out.status == 125 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        try s.minirt("rm", "logged")
        try s.finish()
    }

    /// The docker-surface issue's list of run/create flags: each one is in `run --help`
    /// and `create --help` (a flag dropped by a refactoring fails here).
    @Test func everyListedFlagIsOffered() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let listed = ["annotation", "attach", "blkio-weight", "blkio-weight-device", "device-read-bps", "device-write-bps",
                      "device-read-iops", "device-write-iops", "cgroup-parent", "cgroupns", "cidfile", "cpu-period", "cpu-quota",
                      "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "detach-keys", "device", "device-cgroup-rule",
                      "domainname", "expose", "volume", "health-cmd", "health-interval", "health-retries", "health-start-period",
                      "health-start-interval", "health-timeout", "no-healthcheck", "init", "ipc", "pid", "uts", "userns", "label",
                      "label-file", "link", "log-driver", "log-opt", "memory-reservation", "memory-swappiness", "oom-kill-disable",
                      "oom-score-adj", "quiet", "shm-size", "sig-proxy", "stop-signal", "stop-timeout", "sysctl", "ulimit", "volumes-from",
                      "ip", "mac-address"]
        for verb in ["run", "create"] {
            let help = try s.minirt(verb, "--help").stdout
            let offered = Set(help.split(whereSeparator: { " ,\n".contains($0) }).filter { $0.hasPrefix("--") }
                .map { String($0.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }) })
            let missing = listed.filter { !offered.contains($0) }
            #expect(missing.isEmpty, "\(verb) --help lacks --\(missing.joined(separator: ", --"))")
        }
        for short in ["-a", "-l", "-q", "-v", "-e", "-p", "-i", "-t", "-d", "-u", "-w", "-h", "-m"] {
            #expect(try s.minirt("run", "--help").stdout.contains(short + ","), "run --help lacks \(short)")
        }
        try s.finish()
    }

    /// ls -s, inspect --size, system df and inspect --type: sizes read from the
    /// folders, each kind of object found by name.
    @Test func sizesAndInspectTypes() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(try s.minirt("run", "-d", "--name", "sz", "--network", "none", "-v", "/data", "busybox", "sh", "-c",
                                  "head -c 300000 /dev/zero > /big; head -c 100000 /dev/zero > /data/v; touch /done; sleep 300").status == 0)
        for _ in 0..<50 where try s.minirt("exec", "sz", "test", "-e", "/done").status != 0 { usleep(100_000) }
        let size = try s.minirt("ls", "-s", "--format", "{{.Size}}").stdout
        #expect(size.hasPrefix("3") && size.contains("kB (virtual ") && size.contains("MB)"), "\(size)")
        let table = try s.minirt("ls", "-s").lines
        #expect(table.first?.hasSuffix("SIZE") == true && table.count == 2, "\(table)")
        let rw = try s.minirt("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sz").stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(rw.count == 2 && rw[0] >= 300_000 && rw[0] < 400_000 && rw[1] > rw[0], "\(rw)")
        let df = try s.minirt("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}").lines
        #expect(df.count == 3 && df[0].hasPrefix("Images ") && df[1] == "Containers 1 1" && df[2] == "Local Volumes 1 1", "\(df)")
        #expect(try s.minirt("system", "df").lines.first?.hasPrefix("TYPE") == true)

        // inspect finds each kind by name; --type narrows it.
        #expect(try s.minirt("inspect", "-f", "{{.Os}} {{.GraphDriver.Name}}", "busybox").stdout == "linux rootfs\n")
        #expect(try s.minirt("image", "inspect", "-f", "{{json .RepoTags}}", "busybox").stdout == "[\"busybox\"]\n")
        #expect(try s.minirt("inspect", "--type", "network", "-f", "{{.Name}}", "none").stdout == "none\n")
        let volume = try s.minirt("volume", "ls", "-q").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try s.minirt("inspect", "-f", "{{.Driver}}", volume).stdout == "local\n")
        let wrongKind = try s.minirt("inspect", "--type", "volume", "busybox")
        #expect(wrongKind.status == 1 && wrongKind.stdout == "[]\n" && wrongKind.stderr.contains("no such volume: busybox"), "\(wrongKind)")
        #expect(try s.minirt("inspect", "--type", "colour", "sz").status == 1)
        try s.minirt("rm", "-f", "-v", "sz")
        #expect(try s.minirt("volume", "ls", "-q").stdout.isEmpty)
        try s.finish()
    }

    @Test func stopSignalAndTimeout() throws {
        let s = try Sandbox(isolatedNetwork: false)
        // A shell that leaves on USR1 only: stop must send that, and not wait its 10 s.
        try #require(try s.minirt("run", "-d", "--name", "sig", "--network", "none", "--stop-signal", "USR1",
                                  "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopSignal}}", "sig").stdout == "USR1\n")
        #expect(try s.minirt("stop", "sig").status == 0)
        // 42, not 137: the shell got USR1 and left; SIGKILL after the timeout would give 137.
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "sig").stdout == "42\n")
        // --stop-timeout 1 on a process that ignores SIGTERM: SIGKILL after it, exit 137.
        try #require(try s.minirt("run", "-d", "--name", "stubborn", "--network", "none", "--stop-timeout", "1",
                                  "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopTimeout}}", "stubborn").stdout == "1\n")
        #expect(try s.minirt("stop", "stubborn").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "stubborn").stdout == "137\n")
        #expect(try s.minirt("run", "--rm", "--stop-signal", "NOPE", "busybox", "true").status == 125)
        try s.minirt("rm", "sig", "stubborn")
        try s.finish()
    }

    @Test func shmAnnotationExposeAndCidfile() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let shm = try s.minirt("run", "--rm", "--network", "none", "--shm-size", "8m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1")
        #expect(shm.status == 0 && shm.stdout.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == "8192", "\(shm.stdout) \(shm.stderr)")
        #expect(try s.minirt("run", "--rm", "--shm-size", "0", "busybox", "true").status == 125)
        let cid = s.root + "/.cid"
        let run = try s.minirt("run", "-d", "--name", "ann", "--network", "none", "--cidfile", cid, "--annotation", "org.example.team=ops",
                               "--expose", "7000-7001/udp", "busybox", "sleep", "300")
        try #require(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: cid, encoding: .utf8) == run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let id = try s.id(of: "ann")
        let config = try String(contentsOfFile: "\(s.root)/\(id)/config.json", encoding: .utf8)
        #expect(config.contains("\"org.example.team\":\"ops\""), "the annotation reaches the runtime spec")
        let exposed = try s.minirt("inspect", "-f", "{{json .Config.ExposedPorts}}", "ann").stdout
        #expect(exposed.contains("7000/udp") && exposed.contains("7001/udp"), "\(exposed)")
        let again = try s.minirt("run", "--rm", "--cidfile", cid, "busybox", "true")
        #expect(again.status == 125 && again.stderr.contains("container ID file found"), "\(again.stderr)")
        #expect(try s.minirt("run", "--rm", "--annotation", "org.minirt.rootfs.overlay=x", "busybox", "true").status == 125)
        try s.minirt("rm", "-f", "ann")
        unlink(cid)
        try s.finish()
    }

    /// --uts host, --ipc host, --cgroupns host: those namespaces are the host's; the default keeps each private.
    @Test func sharedNamespacesAreTheHosts() throws {
        let s = try Sandbox(isolatedNetwork: false)
        func ns(_ kind: String) -> String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")) ?? "" }
        let probe = "for n in ipc cgroup uts; do readlink /proc/self/ns/$n; done; hostname"
        let shared = try s.minirt("run", "--rm", "--network", "none", "--uts", "host", "--ipc", "host", "--cgroupns", "host", "busybox", "sh", "-c", probe)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(shared.lines == [ns("ipc"), ns("cgroup"), ns("uts"), host], "\(shared.stdout) \(shared.stderr)")
        let own = try s.minirt("run", "--rm", "--network", "none", "busybox", "sh", "-c", probe)
        #expect(own.lines.count == 4 && !own.lines.prefix(3).contains(ns("ipc")) && !own.lines.contains(ns("uts")) && !own.lines.contains(ns("cgroup")), "\(own.stdout)")
        #expect(try s.minirt("run", "--rm", "--uts", "host", "-h", "x", "busybox", "true").stderr.contains("conflicting options"))
        #expect(try s.minirt("run", "--rm", "--ipc", "bogus", "busybox", "true").status == 125)
        try s.finish()
    }
}

/// `ls` as docker's ps: -n/--last, -l/--latest and the wider filters.
@Suite struct ListFlagsTests {
    @Test func lastLatestAndFilters() throws {
        let s = try Sandbox()
        try s.minirt("run", "--name", "one", "--network", "none", "busybox", "sh", "-c", "exit 3")
        try s.minirt("run", "--name", "two", "--network", "none", "-v", "vol:/data", "busybox", "true")
        try s.minirt("run", "-d", "--name", "three", "-p", "18093:80", "busybox", "sleep", "60")
        _ = try s.waitForPid("three")
        func names(_ args: String...) throws -> [String] { try s.minirt(["ls", "--format", "{{.Names}}"] + args).lines }
        #expect(try names("-n", "2") == ["three", "two"])
        #expect(try names("-l") == ["three"])
        #expect(try names("--filter", "exited=3") == ["one"])
        #expect(try names("-a", "--filter", "ancestor=busybox").count == 3)
        #expect(try names("--filter", "publish=80") == ["three"])
        #expect(try names("-a", "--filter", "volume=vol") == ["two"])
        #expect(try names("-a", "--filter", "before=three").sorted() == ["one", "two"])
        #expect(try names("-a", "--filter", "since=one").sorted() == ["three", "two"])
        #expect(try names("-a", "--filter", "network=none").sorted() == ["one", "two"])
        #expect(try s.minirt("ls", "--filter", "before=nope").status == 1)
        #expect(try s.minirt("ls", "--filter", "colour=red").status == 1)
        try s.minirt("rm", "-f", "one", "two", "three")
        try s.finish()
    }
}

/// docker's flags that make no sense here: taken by name, refused with the reason.
@Suite struct NotApplicableFlagsTests {
    @Test func refusedWithAReason() throws {
        let s = try Sandbox()
        for flag in ["--platform=linux/arm64", "--pull=always", "--runtime=runc", "--storage-opt=size=10G", "--volume-driver=nfs",
                     "--link-local-ip=169.254.0.5", "--gpus=all", "--isolation=hyperv", "--disable-content-trust=true"] {
            for verb in ["run", "create"] {
                let o = try s.minirt([verb, "--rm", "--network", "none", flag, "busybox", "true"])
                let name = String(flag.split(separator: "=")[0])
                #expect(o.status == 125 && o.stderr.split(separator: "\n").count == 1 && o.stderr.contains("\(name) is not supported"),
                        "\(verb) \(flag): \(o.status) \(o.stderr)")
            }
        }
        #expect(s.containerFolders().isEmpty)
        try s.finish()
    }
}
