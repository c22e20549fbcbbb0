import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `ls`, `inspect`, `rm` and the state store, with real containers.
@Suite struct LifecycleTests {
    @Test func lsAndInspectShowWhatRan() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "--name", "seven", "busybox", "sh", "-c", "exit 7").status == 7)

        #expect(try s.minirt("ls").lines.count == 1, "only the header: nothing is running")
        let all = try s.minirt("ls", "-a")
        #expect(all.lines.first?.hasPrefix("CONTAINER ID   IMAGE") == true)
        let row = all.lines.count > 1 ? all.lines[1] : ""
        #expect(row.contains("busybox") && row.contains("Exited (7)") && row.hasSuffix("seven"), "\(row)")
        #expect(row.contains("\"sh -c exit 7\""))

        let json = try s.minirt("ls", "-a", "--format", "json")
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(obj?["Names"] as? String == "seven")
        #expect(obj?["State"] as? String == "exited")
        #expect(try s.minirt("ls", "-a", "--format", "{{.Names}}:{{.State}}").stdout == "seven:exited\n")

        let inspect = try s.minirt("inspect", "seven")
        #expect(inspect.status == 0)
        let arr = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]]
        let c = arr?.first ?? [:]
        let id = c["Id"] as? String ?? ""
        #expect(id.count == 64)
        #expect(c["Name"] as? String == "/seven")
        #expect(c["Path"] as? String == "sh")
        #expect(c["Args"] as? [String] == ["-c", "exit 7"])
        let state = c["State"] as? [String: Any] ?? [:]
        #expect(state["Status"] as? String == "exited")
        #expect(state["ExitCode"] as? Int == 7)
        #expect(state["Running"] as? Bool == false)
        #expect((state["StartedAt"] as? String ?? "") < (state["FinishedAt"] as? String ?? ""))
        let config = c["Config"] as? [String: Any] ?? [:]
        #expect(config["Image"] as? String == "busybox")
        #expect(config["Cmd"] as? [String] == ["sh", "-c", "exit 7"])
        #expect(config["Hostname"] as? String == String(id.prefix(12)))
        #expect((c["HostConfig"] as? [String: Any])?["NetworkMode"] as? String == "bridge", "bridge is the default")

        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}} {{json .Config.Cmd}}", "seven").stdout == "7 [\"sh\",\"-c\",\"exit 7\"]\n")
        #expect(try s.minirt("inspect", "-f", "{{.Name}}", String(id.prefix(5))).stdout == "/seven\n")
        let missing = try s.minirt("inspect", "seven", "ghost")
        // docker's words: without --type, inspect looks for any kind of object.
        #expect(missing.status == 1 && missing.stderr.contains("no such object: ghost"), "\(missing.stderr)")
        #expect(try s.minirt("inspect", "--type", "container", "ghost").stderr.contains("no such container: ghost"))
        #expect(try s.minirt("ls", "-aq").stdout == String(id.prefix(12)) + "\n")

        #expect(try s.minirt("rm", "seven").status == 0)
        #expect(try s.minirt("inspect", "seven").status == 1)
        try s.finish()
    }

    @Test func runningContainerIsListedAndNeedsForceToRemove() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--name", "sleeper", "busybox", "sleep", "30"])
        let pid = try s.waitForPid("sleeper")
        let ls = try s.minirt("ls")
        #expect(ls.lines.count == 2 && ls.lines[1].contains("Up "), "\(ls.stdout)")
        let rm = try s.minirt("rm", "sleeper")
        #expect(rm.status == 1 && rm.stderr.contains("container is running"), "\(rm.stderr)")
        #expect(kill(pid, 0) == 0, "a refused rm must not touch the container")
        #expect(try s.minirt("rm", "-f", "sleeper").status == 0)
        p.waitUntilExit()
        #expect(p.terminationStatus == 137)
        #expect(kill(pid, 0) != 0)
        try s.finish()
    }

    @Test func killedRunnerIsNeverShownRunning() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--name", "orphan", "busybox", "sleep", "30"])
        let pid = try s.waitForPid("orphan")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // The container dies with its runner (parent-death signal); the host's init
        // reaps it when it gets to it (this machine's PID 1 reaps late), so a zombie counts as dead.
        func dead() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        var gone = false
        for _ in 0..<500 where !gone { gone = dead(); if !gone { usleep(10_000) } }
        #expect(gone)
        #expect(try s.minirt("ls").lines.count == 1)
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}}", "orphan").stdout == "exited\n")
        #expect(try s.minirt("rm", "orphan").status == 0)
        try s.finish()
    }

    @Test func parallelRunsGetUniqueIdsAndAnIntactStore() throws {
        let s = try Sandbox()
        let n = 16
        let errs = (0..<n).map { _ in Pipe() }
        let procs = try (0..<n).map { i in try s.start(["run", "--name", "par\(i)", "busybox", "sh", "-c", "exit \(i)"], stderr: errs[i]) }
        for (i, p) in procs.enumerated() {
            p.waitUntilExit()
            let err = String(decoding: errs[i].fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus == Int32(i), "par\(i): \(err)")
        }
        let ids = try s.minirt("ls", "-aq", "--no-trunc").lines
        #expect(ids.count == n && Set(ids).count == n)
        let statuses = try s.minirt("ls", "-a", "--format", "{{.Names}}={{.Status}}").lines
        #expect(statuses.count == n)
        for i in 0..<n {
            #expect(statuses.contains { $0.hasPrefix("par\(i)=Exited (\(i)) ") }, "par\(i) in \(statuses)")
        }
        for i in 0..<n {
            #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "par\(i)").stdout == "\(i)\n")
        }
        // Parallel removal as well.
        let rms = try (0..<n).map { i in try s.start(["rm", "par\(i)"]) }
        for p in rms { p.waitUntilExit() }
        #expect(rms.allSatisfy { $0.terminationStatus == 0 })
        try s.finish()
    }

    @Test func parallelRunsRaceForOneName() throws {
        let s = try Sandbox()
        let procs = try (0..<8).map { _ in try s.start(["run", "--name", "only", "busybox", "true"]) }
        for p in procs { p.waitUntilExit() }
        #expect(procs.filter { $0.terminationStatus == 0 }.count == 1)
        #expect(procs.filter { $0.terminationStatus == 125 }.count == 7)
        #expect(try s.minirt("ls", "-aq").lines.count == 1)
        try s.minirt("rm", "only")
        try s.finish()
    }

    @Test func foregroundOutputIsShownAndLogged() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--name", "fg", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; printf partial")
        #expect(o.status == 0)
        #expect(o.stdout == "out\npartial" && o.stderr == "err\n", "the terminal sees the output as it comes: \(o.stdout) | \(o.stderr)")
        let logs = try s.minirt("logs", "fg")
        #expect(logs.stdout == "out\npartial" && logs.stderr == "err\n", "and logs has it too: \(logs.stdout) | \(logs.stderr)")
        try s.minirt("rm", "fg")
        try s.finish()
    }

    @Test func autoRemoveLeavesNothing() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "--rm", "--name", "gone", "busybox", "sh", "-c", "echo x > /tmp/y").status == 0)
        #expect(s.containerFolders().isEmpty)
        #expect(try s.minirt("run", "--rm", "--name", "gone", "busybox", "true").status == 0, "the name is free again")
        try s.finish()
    }
}

extension LifecycleTests {
    /// docker pause/unpause: the cgroup freezer; a paused container shows as
    /// paused, its clock stops, stop and rm -f still end it, and it leaves its
    /// services while frozen.
    @Test func pauseFreezesAndUnpauseThaws() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "ticker", "-l", "app=tick", "busybox", "sh", "-c",
                             "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.05; done").status == 0)
        _ = try s.id(of: "ticker")
        #expect(try s.minirt("service", "create", "tick", "--port", "80", "--selector", "app=tick").status == 0)
        func count() throws -> Int { Int(try s.minirt("exec", "ticker", "cat", "/tmp/n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        func endpoints() throws -> String { try s.minirt("service", "inspect", "-f", "{{len .Endpoints}}", "tick").stdout }
        usleep(200_000)
        #expect(try endpoints() == "1\n")
        #expect(try s.minirt("pause", "ticker").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "ticker").stdout == "paused true true\n")
        #expect(try s.minirt("ls", "--format", "{{.Status}}", "--filter", "status=paused").stdout.hasSuffix("(Paused)\n"))
        #expect(try endpoints() == "0\n", "a paused container serves no one")
        let again = try s.minirt("pause", "ticker")
        #expect(again.status == 1 && again.stderr.contains("already paused"), "\(again.stderr)")
        // Frozen: the counter does not move (read through the host: exec would be frozen too).
        let pid = try s.waitForPid("ticker")
        let file = "/proc/\(pid)/root/tmp/n"
        let before = try String(contentsOfFile: file, encoding: .utf8)
        usleep(300_000)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == before, "it ran while paused")
        #expect(try s.minirt("unpause", "ticker").status == 0)
        usleep(300_000)
        #expect(try count() > Int(before.trimmingCharacters(in: .whitespacesAndNewlines))!, "it did not resume")
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}}", "ticker").stdout == "running\n")
        #expect(try endpoints() == "1\n", "back in its service")
        let notPaused = try s.minirt("unpause", "ticker")
        #expect(notPaused.status == 1 && notPaused.stderr.contains("is not paused"))
        // A paused container still stops and is removed.
        #expect(try s.minirt("pause", "ticker").status == 0)
        #expect(try s.minirt("stop", "-t", "1", "ticker").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}}", "ticker").stdout == "exited\n")
        #expect(try s.minirt("pause", "ticker").status == 1)
        #expect(try s.minirt("start", "ticker").status == 0)
        #expect(try s.minirt("pause", "ticker").status == 0)
        #expect(try s.minirt("rm", "-f", "ticker").status == 0)
        try s.minirt("service", "rm", "tick")
        try s.finish()
    }
}

extension LifecycleTests {
    /// docker rename: the new name works everywhere at once, the old one is free,
    /// the network's DNS follows, and a taken or invalid name is refused.
    @Test func renameMovesTheNameAndItsDNSNames() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "old", "busybox", "sleep", "60").status == 0)
        let id = try s.id(of: "old")
        #expect(try s.minirt("run", "-d", "--name", "other", "busybox", "sleep", "60").status == 0)
        _ = try s.id(of: "other")
        #expect(try s.minirt("rename", "old", "new").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Id}} {{.Name}}", "new").stdout == "\(id) /new\n")
        #expect(try s.minirt("inspect", "old").status != 0)
        #expect(try s.minirt("ls", "--format", "{{.Names}}", "--filter", "id=\(id.prefix(12))").stdout == "new\n")
        let ip = try s.minirt("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "new").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let dns = try s.minirt("exec", "other", "sh", "-c", "nslookup new | grep -c 'Address: \(ip)'; nslookup old >/dev/null 2>&1; echo old=$?")
        #expect(dns.lines == ["1", "old=1"], "\(dns.stdout) \(dns.stderr)")
        // The old name is free again; a taken or invalid name is refused with one line.
        #expect(try s.minirt("run", "--rm", "--name", "old", "busybox", "true").status == 0)
        let taken = try s.minirt("rename", "new", "other")
        #expect(taken.status == 1 && taken.stderr.contains("already in use") && taken.stderr.split(separator: "\n").count == 1, "\(taken.stderr)")
        let bad = try s.minirt("rename", "new", "bad name")
        #expect(bad.status == 1 && bad.stderr.contains("bad name"), "\(bad.stderr)")
        #expect(try s.minirt("inspect", "-f", "{{.Name}}", id).stdout == "/new\n")
        // Stopped and started again under its new name, it stays renamed.
        #expect(try s.minirt("restart", "-t", "1", "new").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Name}} {{.State.Status}}", id).stdout == "/new running\n")
        try s.minirt("rm", "-f", "new", "other")
        try s.finish()
    }
}

extension LifecycleTests {
    /// docker top: the host's ps, only the container's processes, ps options passed through.
    @Test func topListsOnlyTheContainersProcesses() throws {
        let s = try Sandbox()
        #expect(try s.minirt("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 101 & sleep 102 & wait").status == 0)
        _ = try s.id(of: "busy")
        var o = Outcome(status: 1, stdout: "", stderr: "")
        for _ in 0..<50 {
            o = try s.minirt("top", "busy")
            if o.lines.count == 4 { break }
            usleep(50_000)
        }
        #expect(o.status == 0 && o.lines.first?.hasPrefix("UID") == true && o.lines.first?.contains("PID") == true, "\(o.stdout)")
        #expect(o.lines.count == 4 && o.stdout.contains("sleep 101") && o.stdout.contains("sleep 102"), "\(o.stdout)")
        let custom = try s.minirt("top", "busy", "-o", "pid,comm")
        #expect(custom.lines.first?.split(separator: " ") == ["PID", "COMMAND"] && custom.lines.dropFirst().map { $0.split(separator: " ").last! }.sorted() == ["sh", "sleep", "sleep"], "\(custom.stdout)")
        let noPid = try s.minirt("top", "busy", "-o", "comm")
        #expect(noPid.status == 1 && noPid.stderr.contains("PID field"), "\(noPid.stderr)")
        try s.minirt("rm", "-f", "busy")
        let stopped = try s.minirt("run", "--name", "done", "busybox", "true")
        #expect(stopped.status == 0)
        #expect(try s.minirt("top", "done").status == 1)
        try s.minirt("rm", "done")
        try s.finish()
    }
}

/// docker's `create`: the container exists (Created) until `start` runs it.
@Suite struct CreateTests {
    @Test func createThenStart() throws {
        let s = try Sandbox()
        let id = try s.minirt("create", "--name", "made", "--network", "none", "-e", "WHO=created", "busybox", "sh", "-c", "echo $WHO; sleep 60")
        #expect(id.status == 0 && id.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 64, "\(id.stderr)")
        #expect(try s.minirt("ls", "-a", "--format", "{{.Names}} {{.Status}}").stdout == "made Created\n")
        #expect(try s.minirt("ls", "-q").stdout.isEmpty, "a created container is not running")
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "made").stdout == "created 0\n")
        let started = try s.minirt("start", "made")
        #expect(started.status == 0 && started.stdout == "made\n", "\(started.stderr)")
        _ = try s.waitForPid("made")
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}}", "made").stdout == "running\n")
        var log = ""
        for _ in 0..<100 where !log.contains("created") { log = try s.minirt("logs", "made").stdout; usleep(20_000) }
        #expect(log == "created\n")
        try s.minirt("rm", "-f", "made")
        try s.finish()
    }

    /// A start that fails leaves the created container, with docker's exit code
    /// and the error; rm removes it; a refused create leaves nothing at all.
    @Test func failedStartKeepsIt() throws {
        let s = try Sandbox()
        try s.minirt("create", "--name", "broken", "--network", "none", "busybox", "no-such-command")
        let start = try s.minirt("start", "broken")
        #expect(start.status != 0 && start.stderr.contains("executable file not found"), "\(start.stderr)")
        #expect(try s.minirt("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "broken").stdout == "created 127\n")
        try s.minirt("rm", "broken")
        let refused = try s.minirt("create", "--network", "none", "--cpus", "nonsense", "busybox", "true")
        #expect(refused.status == 125 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(try s.minirt("create", "-d", "busybox", "true").status == 125)
        #expect(s.containerFolders().isEmpty)
        // --rm: gone once it has run.
        try s.minirt("create", "--rm", "--name", "once", "--network", "none", "busybox", "true")
        #expect(try s.minirt("start", "once").status == 0)
        var left = "once"
        for _ in 0..<100 where !left.isEmpty { left = try s.minirt("ls", "-aq").stdout; usleep(30_000) }
        #expect(left.isEmpty, "--rm removed it after it ran")
        try s.finish()
    }
}

/// docker's `diff` and `export`: the container's own files, read without
/// following anything it planted.
@Suite struct FilesystemTests {
    @Test func diffAndExport() throws {
        let s = try Sandbox()
        try s.minirt("run", "--name", "changed", "--network", "none", "busybox", "sh", "-c",
                     "echo x > /newfile; rm /bin/vi; mkdir /tmp/sub; echo y > /tmp/sub/f; ln -s /etc/shadow /tmp/link; ln -s / /tmp/root")
        let diff = try s.minirt("diff", "changed")
        #expect(diff.status == 0 && diff.lines == ["C /bin", "D /bin/vi", "C /etc", "A /newfile", "C /tmp", "A /tmp/link", "A /tmp/root", "A /tmp/sub", "A /tmp/sub/f"],
                "\(diff.stdout) \(diff.stderr)")
        // A stopped container: its overlay is mounted for the copy in a namespace of
        // the copy's own; nothing stays mounted on the host.
        let tarPath = s.root + "/.changed.tar"
        #expect(try s.minirt("export", "-o", tarPath, "changed").status == 0)
        let listing = try Sandbox.exec("/bin/tar", ["-tvf", tarPath]).stdout
        #expect(listing.contains("./newfile") && listing.contains("./tmp/sub/f") && !listing.contains("./bin/vi\n"), "\(listing.prefix(400))")
        // The symlinks are archived as links, not followed to the host's files.
        #expect(listing.contains("./tmp/link -> /etc/shadow") && !listing.contains("root:"), "links stay links")
        #expect(s.hostMounts().isEmpty)
        // A running one: its root through /proc/PID/root, without /proc's contents.
        try s.minirt("run", "-d", "--name", "live", "--network", "none", "busybox", "sh", "-c", "echo z > /live; sleep 60")
        _ = try s.waitForPid("live")
        var live = ""
        for _ in 0..<50 where !live.contains("./live\n") {
            #expect(try s.minirt("export", "-o", tarPath, "live").status == 0)
            live = try Sandbox.exec("/bin/tar", ["-tf", tarPath]).stdout
            usleep(20_000)
        }
        #expect(live.contains("./live\n") && live.contains("./proc/\n") && !live.contains("./proc/1/"), "\(live.prefix(300))")
        #expect(try s.minirt("export", "nope").status == 1)
        try s.minirt("rm", "-f", "changed", "live")
        try s.finish()
    }
}

/// docker's `cp`, both ways, and the attacks on it: symlinks the container
/// planted (absolute, relative, as the last component) never lead onto the host.
@Suite struct CopyTests {
    @Test func copiesBothWaysAndStaysInside() throws {
        let s = try Sandbox()
        let host = s.root + "/.cp"
        try FileManager.default.createDirectory(atPath: host + "/out", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: host + "/decoy-dir", withIntermediateDirectories: true)
        try "host's secret\n".write(toFile: host + "/decoy", atomically: true, encoding: .utf8)
        try "from the host\n".write(toFile: host + "/in.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: host + "/tree/sub", withIntermediateDirectories: true)
        try "leaf\n".write(toFile: host + "/tree/sub/leaf", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: host + "/tree/link", withDestinationPath: "sub/leaf")
        // The container plants: / as a directory link, links to host paths, a file link to the decoy.
        try s.minirt("run", "-d", "--name", "cp", "--network", "none", "busybox", "sh", "-c",
                     "mkdir -p /data; echo inside > /data/file; ln -s / /data/root; ln -s \(host) /data/hostdir; "
                     + "ln -s \(host)/decoy /data/decoy; ln -s ../../../../../../\(host)/decoy /data/updecoy; touch /ready; sleep 120")
        _ = try s.waitForPid("cp")
        for _ in 0..<100 where try s.minirt("exec", "cp", "test", "-e", "/ready").status != 0 { usleep(20_000) }

        // Out: a file, a directory, through a planted "/" link (inside the container's root).
        #expect(try s.minirt("cp", "cp:/data/file", host + "/out/").status == 0)
        #expect(try String(contentsOfFile: host + "/out/file", encoding: .utf8) == "inside\n")
        #expect(try s.minirt("cp", "cp:/data/root/data/file", host + "/out/via-root").status == 0)
        #expect(try String(contentsOfFile: host + "/out/via-root", encoding: .utf8) == "inside\n")
        // A link to a host path resolves inside the container, where nothing is there.
        let through = try s.minirt("cp", "cp:/data/hostdir/decoy", host + "/out/stolen")
        #expect(through.status == 1 && !FileManager.default.fileExists(atPath: host + "/out/stolen"), "\(through.stderr)")
        // The link itself is copied as a link (-L follows it, inside the root: nothing there).
        #expect(try s.minirt("cp", "cp:/data/decoy", host + "/out/decoy-link").status == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: host + "/out/decoy-link")) == host + "/decoy")
        #expect(try s.minirt("cp", "-L", "cp:/data/updecoy", host + "/out/followed").status == 1)

        // In: a file, a tree with its link; onto planted links, which are replaced, never followed.
        #expect(try s.minirt("cp", host + "/in.txt", "cp:/data/").status == 0)
        #expect(try s.minirt("cp", host + "/tree", "cp:/data/tree").status == 0)
        let seen = try s.minirt("exec", "cp", "sh", "-c", "cat /data/in.txt /data/tree/sub/leaf; readlink /data/tree/link")
        #expect(seen.lines == ["from the host", "leaf", "sub/leaf"], "\(seen.stdout) \(seen.stderr)")
        #expect(try s.minirt("cp", host + "/in.txt", "cp:/data/decoy").status == 0)
        // The link to the host's folder resolves inside the container, where that folder does not exist.
        #expect(try s.minirt("cp", host + "/in.txt", "cp:/data/hostdir/planted").status == 1)
        #expect(try String(contentsOfFile: host + "/decoy", encoding: .utf8) == "host's secret\n", "the host's file behind the link is untouched")
        #expect(!FileManager.default.fileExists(atPath: host + "/planted"), "nothing was written through the link to the host's folder")
        #expect(try s.minirt("exec", "cp", "sh", "-c", "test -f /data/decoy && ! test -L /data/decoy && cat /data/decoy").stdout == "from the host\n")

        // Bad input: one line, exit 1.
        #expect(try s.minirt("cp", host + "/in.txt", host + "/x").status == 1)
        #expect(try s.minirt("cp", "cp:/no/such", host + "/x").status == 1)
        // Tar streams: out, the planted "/" link as a link; in, an archive's files land inside.
        let archive = host + "/out.tar"
        let streamed = try Sandbox.exec("/bin/sh", ["-c", "MINIRT_ROOT=\(s.root) MINIRT_IMAGES=\(Sandbox.images) \(Sandbox.binary) cp cp:/data - > \(archive) && tar -tvf \(archive)"])
        #expect(streamed.status == 0 && streamed.stdout.contains("data/file") && streamed.stdout.contains("data/root -> /"), "\(streamed.stdout) \(streamed.stderr)")
        #expect(!streamed.stdout.contains("etc/passwd"), "the planted / link was not followed")
        try Sandbox.exec("/bin/tar", ["-c", "-f", host + "/in.tar", "-C", host, "in.txt", "tree"])
        let unpacked = try Sandbox.exec("/bin/sh", ["-c", "MINIRT_ROOT=\(s.root) \(Sandbox.binary) cp - cp:/data/hostdir < \(host)/in.tar"])
        #expect(unpacked.status == 1, "the destination link leads to a host folder that does not exist inside: refused")
        let good = try Sandbox.exec("/bin/sh", ["-c", "\(Sandbox.binary) cp - cp:/tmp < \(host)/in.tar"], env: s.environment)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try s.minirt("exec", "cp", "sh", "-c", "cat /tmp/in.txt /tmp/tree/sub/leaf").lines == ["from the host", "leaf"])
        // A hostile archive: a link to the host's folder, then a file "through" it; and a .. member.
        try FileManager.default.createDirectory(atPath: host + "/evil1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: host + "/evil2/through", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: host + "/evil1/through", withDestinationPath: host + "/decoy-dir")
        try "pwned\n".write(toFile: host + "/evil2/through/pwned", atomically: true, encoding: .utf8)
        try Sandbox.exec("/bin/tar", ["-c", "-f", host + "/evil.tar", "-C", host + "/evil1", "through", "-C", host + "/evil2", "through/pwned"])
        _ = try Sandbox.exec("/bin/sh", ["-c", "\(Sandbox.binary) cp - cp:/tmp < \(host)/evil.tar"], env: s.environment)
        #expect(!FileManager.default.fileExists(atPath: host + "/decoy-dir/pwned"), "an archive's link led a file onto the host")
        try Sandbox.exec("/bin/tar", ["-c", "-f", host + "/dots.tar", "-C", host + "/out", "--transform", "s|^|../../|", "file"])
        let dots = try Sandbox.exec("/bin/sh", ["-c", "\(Sandbox.binary) cp - cp:/tmp < \(host)/dots.tar"], env: s.environment)
        #expect(try s.minirt("exec", "cp", "test", "-e", "/file").status != 0, "a .. member left the destination: \(dots.stderr)")
        #expect(!s.leftScratch("cp"), "no scratch folder left")
        try s.minirt("stop", "-t", "1", "cp")
        let stopped = try s.minirt("cp", "cp:/data/file", host + "/out/again")
        #expect(stopped.status == 1 && stopped.stderr.contains("not running"), "\(stopped.stderr)")
        try s.minirt("rm", "-f", "cp")
        try s.finish()
    }
}

/// docker's named volumes: created on first use, filled from the image, shared,
/// kept after rm, refused rm while in use, pruned.
@Suite struct VolumeTests {
    @Test func namedVolumes() throws {
        let s = try Sandbox()
        #expect(try s.minirt("volume", "create", "data").stdout == "data\n")
        try s.minirt("run", "--name", "writer", "--network", "none", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/file")
        let read = try s.minirt("run", "--rm", "--network", "none", "--mount", "type=volume,source=data,target=/mnt,readonly", "busybox",
                                "sh", "-c", "cat /mnt/file; touch /mnt/x 2>/dev/null || echo read-only")
        #expect(read.lines == ["kept", "read-only"], "\(read.stdout) \(read.stderr)")
        // A new volume takes the image's content at its target (busybox's /etc here), links kept as links.
        try s.minirt("run", "--rm", "--network", "none", "-v", "etc:/etc", "busybox", "true")
        let etc = s.root + "/.volumes/etc/_data"
        #expect(FileManager.default.fileExists(atPath: etc + "/passwd"), "the image's /etc was copied in")
        #expect(try s.minirt("volume", "ls", "-q").stdout == "data\netc\n")
        let view = try s.minirt("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}}", "data")
        #expect(view.stdout == "data local \(s.root)/.volumes/data/_data\n", "\(view.stdout)")
        let mounts = try s.minirt("inspect", "-f", "{{json .Mounts}}", "writer").stdout
        #expect(mounts.contains("\"Name\":\"data\"") && mounts.contains("\"Type\":\"volume\"") && mounts.contains("\"Destination\":\"/data\""), "\(mounts)")
        // In use by a (stopped) container: refused; after rm, removed.
        let busy = try s.minirt("volume", "rm", "data")
        #expect(busy.status == 1 && busy.stderr.contains("volume is in use"), "\(busy.stderr)")
        try s.minirt("rm", "writer")
        #expect(try s.minirt("volume", "rm", "data").status == 0)
        // prune takes anonymous volumes only, as docker's; -a the named ones too.
        #expect(try s.minirt("volume", "prune", "-f").stdout.contains("Total reclaimed volumes: 0"))
        #expect(try s.minirt("volume", "prune", "-f", "-a").stdout.contains("Total reclaimed volumes: 1"))
        #expect(try s.minirt("volume", "ls", "-q").stdout.isEmpty)
        #expect(try s.minirt("volume", "create", "../bad").status == 1)
        #expect(try s.minirt("run", "--rm", "-v", "bad name:/x", "busybox", "true").status == 125)
        try s.finish()
    }

    /// -v /path, --mount without a source and the image's VOLUME: anonymous
    /// volumes, removed by rm -v and --rm (never by plain rm), shared by --volumes-from.
    @Test func anonymousVolumesAndVolumesFrom() throws {
        let s = try Sandbox()
        func volumes() throws -> [String] { try s.minirt("volume", "ls", "-q").lines }
        try #require(try s.minirt("run", "-d", "--name", "a", "--network", "none", "-v", "/data", "busybox",
                                  "sh", "-c", "echo hi > /data/f; sleep 300").status == 0)
        let anon = try volumes()
        try #require(anon.count == 1 && anon[0].count == 64, "\(anon)")
        #expect(try s.minirt("volume", "inspect", "-f", "{{json .Labels}}", anon[0]).stdout == "{\"com.docker.volume.anonymous\":\"\"}\n")
        let mounts = try s.minirt("inspect", "-f", "{{json .Mounts}}", "a").stdout
        #expect(mounts.contains("\"Destination\":\"/data\"") && mounts.contains("\"Name\":\"\(anon[0])\"") && mounts.contains("\"Type\":\"volume\""), "\(mounts)")
        // --rm takes its own anonymous volume with it.
        #expect(try s.minirt("run", "--rm", "--network", "none", "--mount", "type=volume,target=/scratch", "busybox", "true").status == 0)
        #expect(try volumes() == anon)
        // --volumes-from: the same volume, read-only when asked.
        var read = try s.minirt("run", "--name", "b", "--network", "none", "--volumes-from", "a:ro", "busybox",
                                "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /data/f ] && break; sleep 0.2; done; cat /data/f; touch /data/g 2>/dev/null || echo read-only")
        #expect(read.lines == ["hi", "read-only"], "\(read.stdout) \(read.stderr)")
        #expect(try s.minirt("inspect", "-f", "{{json .HostConfig.VolumesFrom}}", "b").stdout == "[\"a:ro\"]\n")
        // Plain rm keeps the volume (b still uses it); rm -v of b leaves a's volume to a.
        try s.minirt("rm", "-v", "b")
        #expect(try volumes() == anon)
        try s.minirt("rm", "-f", "a")
        #expect(try volumes() == anon, "plain rm keeps anonymous volumes, as docker's")
        #expect(try s.minirt("volume", "prune", "-f").stdout.contains("Total reclaimed volumes: 1"))
        #expect(try volumes().isEmpty)
        try #require(try s.minirt("run", "-d", "--name", "c", "--network", "none", "-v", "/data", "busybox", "sleep", "300").status == 0)
        #expect(try volumes().count == 1)
        try s.minirt("rm", "-f", "-v", "c")
        #expect(try volumes().isEmpty)

        // An image's VOLUME gets one, filled from the image; a -v at the same place replaces it.
        let folder = s.root + "/.image"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try #require(try Sandbox.exec("/bin/cp", ["-a", Sandbox.images + "/busybox/rootfs", folder + "/rootfs"]).status == 0)
        try FileManager.default.createDirectory(atPath: folder + "/rootfs/srv/seed", withIntermediateDirectories: true)
        try "seeded\n".write(toFile: folder + "/rootfs/srv/seed/file", atomically: true, encoding: .utf8)
        try #"{"config": {"Cmd": ["sh"], "Volumes": {"/srv/seed": {}}}}"#.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        let image = "volume-test-\(getpid())"
        try #require(try s.minirt("image", "import", folder, image).status == 0)
        defer { _ = try? Sandbox.exec(Sandbox.binary, ["--root", s.root, "--images", Sandbox.images, "image", "rm", "-f", image]) } // runs after finish(), without its netns
        read = try s.minirt("run", "--rm", "--network", "none", image, "sh", "-c", "cat /srv/seed/file; grep -c ' /srv/seed ' /proc/mounts")
        #expect(read.lines == ["seeded", "1"], "\(read.stdout) \(read.stderr)")
        #expect(try volumes().isEmpty)
        try #require(try s.minirt("create", "--name", "d", "--network", "none", "-v", "given:/srv/seed", image).status == 0)
        #expect(try volumes() == ["given"])
        try s.minirt("rm", "-v", "d")
        #expect(try volumes() == ["given"], "rm -v removes anonymous volumes only")
        try s.minirt("volume", "rm", "given")
        #expect(try s.minirt("run", "--rm", "--volumes-from", "nonexistent", "busybox", "true").status == 125)
        #expect(try s.minirt("run", "--rm", "--volumes-from", "a:rx", "busybox", "true").status == 125)
        try s.finish()
    }
}

/// `minirt attach`: a detached container's live output and our input into
/// its stdin pipe (run -di) or terminal (-dit), the detach keys, the exit code.
@Suite struct AttachTests {
    /// Reads what a pipe has until `wanted` appears (bounded).
    func read(_ h: FileHandle, until wanted: String, into text: inout String) {
        let fd = h.fileDescriptor
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        var buf = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<100 where !text.contains(wanted) {
            let n = Glibc.read(fd, &buf, buf.count)
            if n > 0 { text += String(decoding: buf[0..<n], as: UTF8.self) } else { usleep(50_000) }
        }
    }

    @Test func stdinOutputDetachAndExit() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(try s.minirt("run", "-di", "--name", "echoer", "--network", "none", "busybox", "sh", "-c",
                                  "while read l; do echo got $l; echo err $l >&2; done").status == 0)
        for (name, detachKeys) in [("echoer", nil), ("echoer", "ctrl-x,a")] as [(String, String?)] {
            let input = Pipe(), output = Pipe()
            let client = try s.start(["attach"] + (detachKeys.map { ["--detach-keys", $0] } ?? []) + [name], stdin: input.fileHandleForReading, stdout: output, stderr: output)
            try input.fileHandleForReading.close()
            var text = ""
            input.fileHandleForWriting.write(Data("hello\n".utf8))
            read(output.fileHandleForReading, until: "err hello", into: &text)
            #expect(text.contains("got hello") && text.contains("err hello"), "\(text)")
            // The keys detach; the container runs on.
            input.fileHandleForWriting.write(Data(detachKeys == nil ? [16, 17] : [24, 97]))
            #expect(client.terminationStatus == 0)
            #expect(try s.minirt("inspect", "-f", "{{.State.Running}}", name).stdout == "true\n")
        }
        #expect(try s.minirt("logs", "echoer").stdout == "got hello\ngot hello\n")

        // A terminal: input reaches its shell; the output is the pty's.
        try #require(try s.minirt("run", "-dit", "--name", "term", "--network", "none", "busybox", "sh").status == 0)
        let input = Pipe(), output = Pipe()
        let client = try s.start(["attach", "term"], stdin: input.fileHandleForReading, stdout: output)
        try input.fileHandleForReading.close()
        var text = ""
        input.fileHandleForWriting.write(Data("echo $((6*7))\n".utf8))
        read(output.fileHandleForReading, until: "42", into: &text)
        #expect(text.contains("42"), "\(text)")
        input.fileHandleForWriting.write(Data("exit 4\n".utf8))
        #expect(client.terminationStatus == 4, "attach returns the container's exit code")

        // No stdin: the output until it ends, and its code.
        try #require(try s.minirt("run", "-d", "--name", "short", "--network", "none", "busybox", "sh", "-c", "sleep 0.5; echo bye; exit 3").status == 0)
        let out = try s.minirt("attach", "--no-stdin", "short")
        #expect(out.stdout == "bye\n" && out.status == 3, "\(out)")
        let stopped = try s.minirt("attach", "short")
        #expect(stopped.status == 1 && stopped.stderr.contains("start it first"), "\(stopped.stderr)")
        #expect(try s.minirt("attach", "--detach-keys", "ctrl-1", "echoer").status == 1)
        #expect(try s.minirt("run", "--rm", "--detach-keys", "meta-x", "busybox", "true").status == 125)
        try s.minirt("rm", "-f", "echoer", "term", "short")
        try s.finish()
    }
}
