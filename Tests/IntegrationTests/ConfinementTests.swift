import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Escape attempts from inside a container under the default confinement:
/// each must fail. And the positive side: what the knobs allow works.
@Suite struct ConfinementTests {
    /// Runs `sh -c script` in a fresh busybox container (no network) and returns the outcome.
    func sh(_ s: Sandbox, _ flags: [String] = [], _ script: String) throws -> Outcome {
        try s.minirt(["run", "--rm", "--network", "none"] + flags + ["busybox", "sh", "-c", script])
    }

    func field(_ status: String, _ name: String) -> String? {
        status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    @Test func defaultsMatchDocker() throws {
        let s = try Sandbox()
        let o = try sh(s, [], "cat /proc/self/status")
        #expect(o.status == 0, "\(o.stderr)")
        // Docker's fourteen capabilities, nothing ambient or inheritable.
        #expect(field(o.stdout, "CapEff") == "00000000a80425fb")
        #expect(field(o.stdout, "CapBnd") == "00000000a80425fb")
        #expect(field(o.stdout, "CapInh") == "0000000000000000")
        #expect(field(o.stdout, "CapAmb") == "0000000000000000")
        #expect(field(o.stdout, "Seccomp") == "2")
        #expect(field(o.stdout, "NoNewPrivs") == "1")

        // A non-root user keeps nothing.
        let u = try sh(s, ["--user", "nobody"], "id -u; id -g; grep CapEff /proc/self/status")
        #expect(u.lines == ["65534", "65534", "CapEff:\t0000000000000000"], "\(u.stdout) \(u.stderr)")
        let g = try sh(s, ["--user", "1000:1000", "--group-add", "tty", "--group-add", "77"], "id -u; id -g; id -G")
        #expect(g.lines.prefix(2) == ["1000", "1000"], "\(g.stdout) \(g.stderr)")
        #expect(g.lines.last.map { Set($0.split(separator: " ")) } == ["1000", "5", "77"], "\(g.stdout)")

        // Privileged: every capability minirt holds, no filter, can mount.
        let p = try sh(s, ["--privileged"], "grep -E '^(CapEff|Seccomp):' /proc/self/status; mount -t tmpfs t /tmp && echo mounted")
        #expect(p.lines.contains("Seccomp:\t0") && p.lines.contains("mounted"), "\(p.stdout) \(p.stderr)")
        #expect(p.lines.first != "CapEff:\t00000000a80425fb")
        // CAP_SYS_ADMIN alone also lets mount through the default filter (its rule depends on the capability).
        let a = try sh(s, ["--cap-add", "SYS_ADMIN"], "mount -t tmpfs t /tmp && echo mounted")
        #expect(a.lines == ["mounted"], "\(a.stderr)")
        // Dropping: without CAP_CHOWN, chown fails even for root.
        let d = try sh(s, ["--cap-drop", "chown"], "touch /tmp/f; chown 1 /tmp/f || echo refused")
        #expect(d.lines.last == "refused", "\(d.stdout) \(d.stderr)")
        let unconfined = try sh(s, ["--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges=false"],
                                "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
        #expect(unconfined.lines == ["NoNewPrivs:\t0", "Seccomp:\t0"], "\(unconfined.stdout)")
        try s.finish()
    }

    @Test func escapeAttemptsFail() throws {
        let s = try Sandbox()
        let script = """
            mount -t tmpfs t /tmp 2>/dev/null && echo ESCAPED mount
            umount /proc 2>/dev/null && echo ESCAPED umount
            unshare -n true 2>/dev/null && echo ESCAPED unshare
            hostname evil 2>/dev/null && echo ESCAPED hostname
            (echo evil > /proc/sys/kernel/hostname) 2>/dev/null && echo ESCAPED proc-sys
            [ "$(head -c 16 /proc/kcore 2>/dev/null | wc -c)" = 0 ] || echo ESCAPED kcore
            [ -z "$(cat /proc/keys 2>/dev/null)" ] || echo ESCAPED keys
            (echo 1 > /proc/sysrq-trigger) 2>/dev/null && echo ESCAPED sysrq
            insmod /bin/busybox 2>/dev/null && echo ESCAPED insmod
            mknod /tmp/disk b 7 0 && (head -c 1 /tmp/disk > /dev/null) 2>/tmp/err; cat /tmp/err
            reboot -f 2>/dev/null; echo still here
            ls /proc | grep -c '^[0-9]'
            """
        let o = try sh(s, [], script)
        #expect(!o.stdout.contains("ESCAPED"), "\(o.stdout)")
        // mknod works (images may create nodes) but the device cgroup refuses to open it.
        #expect(o.stdout.contains("Operation not permitted"), "\(o.stdout) \(o.stderr)")
        #expect(o.lines.contains("still here"))
        // Only the container's own processes: sh and its children.
        #expect(Int(o.lines.last ?? "") ?? 99 <= 4, "host processes visible: \(o.lines.last ?? "")")
        try s.finish()
    }

    /// On cgroup v2 the device rules are an eBPF program attached to the
    /// container's cgroup. This host keeps its controllers on v1, so the test
    /// forces the unified hierarchy (where only the device filter applies).
    @Test func deviceFilterOnCgroupV2() throws {
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
        try #require(FileManager.default.fileExists(atPath: unified + "/cgroup.controllers"), "no cgroup v2 hierarchy on this host")
        let s = try Sandbox()
        var env = s.environment
        env["MINIRT_CGROUP_V2"] = unified
        let o = try Sandbox.exec(s.command.0, s.command.1 + ["run", "--name", "v2", "--network", "none", "busybox", "sh", "-c", """
            grep '^0::' /proc/self/cgroup
            echo x > /dev/null && head -c 4 /dev/urandom | wc -c
            mknod /tmp/disk b 7 0 && head -c 1 /tmp/disk
            mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem
            """], env: env)
        let id = try s.id(of: "v2")
        // Its own cgroup namespace: the container's cgroup is its root.
        #expect(o.lines.first == "0::/", "\(o.stdout)")
        #expect(o.lines.contains("4"), "\(o.stdout)")
        #expect(o.stderr.contains("/tmp/disk: Operation not permitted") && o.stderr.contains("/tmp/mem: Operation not permitted"), "\(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(unified)/minirt/\(id)"), "v2 cgroup left after exit")
        // --privileged has no device rules.
        let p = try Sandbox.exec(s.command.0, s.command.1 + ["run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c",
                                                             "mknod /tmp/zero c 1 5 && head -c 3 /tmp/zero | wc -c"], env: env)
        #expect(p.lines == ["3"], "\(p.stdout) \(p.stderr)")
        try s.minirt("rm", "v2")
        try s.finish()
    }

    /// Raw syscalls through Python's ctypes (the host's /usr, read-only): every
    /// call Docker's profile denies returns EPERM from the filter.
    @Test func deniedSyscallsReturnEPERM() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            Issue.record("python3 is needed for the syscall probe: apt-get install python3")
            return
        }
        let s = try Sandbox()
        let probe = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            calls = {
                "keyctl": (250, 0, -3, 0), "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0),
                "bpf": (321, 0, 0, 0), "perf_event_open": (298, 0, 0, -1, -1, 0), "userfaultfd": (323, 0),
                "open_by_handle_at": (304, -1, 0, 0), "swapon": (167, 0, 0), "kexec_load": (246, 0, 0, 0, 0),
                "init_module": (175, 0, 0, 0), "finit_module": (313, -1, 0, 0), "delete_module": (176, 0, 0),
                "unshare_net": (272, 0x40000000), "unshare_user": (272, 0x10000000), "setns": (308, -1, 0),
                "mount": (165, 0, 0, 0, 0, 0), "umount2": (166, 0, 0), "pivot_root": (155, 0, 0),
                "clone_newns": (56, 0x00020000 | 17, 0, 0, 0, 0), "io_uring_setup": (425, 1, 0),
                "reboot": (169, 0xfee1dead, 672274793, 0x4321fedc, 0), "acct": (163, 0), "settimeofday": (164, 0, 0),
                "iopl": (172, 3), "syslog": (103, 3, 0, 0), "quotactl": (179, 0, 0, 0, 0), "vhangup": (153,),
            }
            for name, args in calls.items():
                r = libc.syscall(*[ctypes.c_long(a) for a in args])
                e = ctypes.get_errno()
                print(name, "EPERM" if r == -1 and e == 1 else "ALLOWED r=%d errno=%d" % (r, e))
            """
        let dir = s.root + "/.probe"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try probe.write(toFile: dir + "/probe.py", atomically: true, encoding: .utf8)
        let host = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro", "-v", "\(dir):/probe:ro"]
        let o = try s.minirt(["run", "--rm", "--network", "none"] + host + ["busybox", "/usr/bin/python3", "/probe/probe.py"])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.lines.count == 27, "\(o.stdout)")
        for line in o.lines { #expect(line.hasSuffix(" EPERM"), "\(line)") }
        try s.finish()
    }

    @Test func volumeTargetsStayInsideTheRootfs() throws {
        let s = try Sandbox()
        // A rootfs whose image plants symlinks to a host directory, absolute and relative.
        let rootfs = s.root + "/.evil-rootfs"
        let hostDir = s.root + "/.host-dir"
        let source = s.root + "/.volume"
        _ = try Sandbox.exec("/bin/cp", ["-a", "\(Sandbox.images)/busybox/rootfs", rootfs])
        for d in [hostDir, source] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try "host".write(toFile: hostDir + "/marker", atomically: true, encoding: .utf8)
        try "payload".write(toFile: source + "/payload", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/abs", withDestinationPath: hostDir)
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/rel", withDestinationPath: "../../../../../../../../" + hostDir)

        for target in ["/abs", "/rel"] {
            let o = try s.minirt(["run", "--rm", "--network", "none", "-v", "\(source):\(target)", rootfs, "sh", "-c",
                                  "ls \(target); cat \(hostDir)/marker 2>/dev/null || echo no-host-marker; echo x > \(target)/written"])
            #expect(o.status == 0, "\(o.stderr)")
            // The volume is where the symlink leads inside the rootfs; the host directory is untouched.
            #expect(o.lines.contains("payload") && !o.lines.contains("marker"), "\(o.stdout)")
            #expect(o.lines.contains("no-host-marker"), "\(o.stdout)")
            let hostFiles = try FileManager.default.contentsOfDirectory(atPath: hostDir)
            #expect(hostFiles == ["marker"], "host directory changed: \(hostFiles)")
        }
        #expect(FileManager.default.fileExists(atPath: source + "/written"))
        try? FileManager.default.removeItem(atPath: rootfs)
        try s.finish()
    }

    @Test func mountsAndReadOnlyRoot() throws {
        let s = try Sandbox()
        let dir = s.root + "/.data"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rw = try sh(s, ["-v", "\(dir):/data"], "echo hi > /data/f && cat /data/f")
        #expect(rw.lines == ["hi"], "\(rw.stderr)")
        #expect((try? String(contentsOfFile: dir + "/f", encoding: .utf8)) == "hi\n")
        let ro = try sh(s, ["-v", "\(dir):/data:ro"], "echo no > /data/g || echo refused")
        #expect(ro.lines.last == "refused" && !FileManager.default.fileExists(atPath: dir + "/g"))
        let m = try sh(s, ["--mount", "type=bind,source=\(dir),target=/m,readonly", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m"],
                       "cat /m/f; touch /m/x 2>/dev/null || echo refused; grep ' /t ' /proc/mounts")
        #expect(m.lines.first == "hi" && m.lines.contains("refused"), "\(m.stdout) \(m.stderr)")
        #expect(m.stdout.contains("tmpfs /t tmpfs") && m.stdout.contains("size=1024k"), "\(m.stdout)")
        let t = try sh(s, ["--tmpfs", "/scratch:size=2m,mode=700"], "grep ' /scratch ' /proc/mounts")
        #expect(t.stdout.contains("size=2048k") && t.stdout.contains("mode=700") && t.stdout.contains("noexec"), "\(t.stdout)")

        let r = try sh(s, ["--read-only"], "touch /x 2>/dev/null || echo root-ro; touch /tmp/x /run/x && echo tmp-rw")
        #expect(r.lines == ["root-ro", "tmp-rw"], "\(r.stdout) \(r.stderr)")
        let r2 = try sh(s, ["--read-only", "--read-only-tmpfs", "false"], "touch /tmp/x 2>/dev/null || echo tmp-ro")
        #expect(r2.lines == ["tmp-ro"], "\(r2.stdout)")
        try s.finish()
    }

    @Test func limitsAreEnforced() throws {
        let s = try Sandbox()
        // A memory hog is killed by the kernel and recorded as such.
        let hog = try s.minirt(["run", "--name", "hog", "--network", "none", "-m", "32m", "--memory-swap", "32m", "busybox",
                                "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"])
        #expect(!hog.stdout.contains("survived"))
        _ = try s.id(of: "hog")
        let state = try s.minirt("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog")
        #expect(state.lines.first?.hasPrefix("true") == true, "\(state.stdout)")
        try s.minirt("rm", "hog")

        // Forking stops at the pids limit (the container's processes, exec'd ones
        // included, share one cgroup); the host carries on.
        _ = try s.minirt("run", "-d", "--name", "bomb", "--network", "none", "--pids-limit", "64", "busybox", "sleep", "60")
        let bombID = try s.id(of: "bomb")
        _ = try s.waitForPid("bomb")
        let bomb = try s.minirt("exec", "bomb", "sh", "-c", "i=0; while [ $i -lt 150 ]; do sleep 60 & i=$((i+1)); done")
        #expect(bomb.status != 0 && bomb.stderr.contains("can't fork"), "\(bomb.status) \(bomb.stderr)")
        let current = (try? String(contentsOfFile: "/sys/fs/cgroup/pids/minirt/\(bombID)/pids.current", encoding: .utf8)) ?? ""
        #expect(Int(current.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 999 <= 64, "pids.current \(current)")
        #expect(try Sandbox.exec("/bin/true", []).status == 0)
        try s.minirt("rm", "-f", "bomb")

        // CPU and memory limits land in the container's cgroup; the cgroup goes with the container.
        let id = try s.minirt("run", "-d", "--name", "lim", "--network", "none", "--cpus", "0.5", "--cpu-shares", "512",
                              "-m", "64m", "--pids-limit", "32", "busybox", "sleep", "30").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try s.id(of: "lim")
        _ = try s.waitForPid("lim")
        func read(_ c: String, _ f: String) -> String {
            ((try? String(contentsOfFile: "/sys/fs/cgroup/\(c)/minirt/\(id)/\(f)", encoding: .utf8)) ?? "?")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(read("cpu", "cpu.cfs_quota_us") == "50000")
        #expect(read("cpu", "cpu.cfs_period_us") == "100000")
        #expect(read("cpu", "cpu.shares") == "512")
        #expect(read("memory", "memory.limit_in_bytes") == "67108864")
        #expect(read("pids", "pids.max") == "32")
        // exec joins the same cgroup and confinement.
        // exec joins the same cgroup (its namespace's root) and confinement; the
        // container sees its own limits under /sys/fs/cgroup, read-only.
        let e = try s.minirt("exec", "lim", "sh", "-c", """
            grep ':pids:' /proc/self/cgroup; grep -E '^(Seccomp|CapEff):' /proc/self/status
            cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes
            echo 1 > /sys/fs/cgroup/pids/pids.max || echo refused
            """)
        #expect(e.lines.first?.hasSuffix(":pids:/") == true && e.lines.contains("Seccomp:\t2") && e.lines.contains("CapEff:\t00000000a80425fb"),
                "\(e.stdout) \(e.stderr)")
        #expect(e.lines.contains("32") && e.lines.contains("67108864") && e.lines.last == "refused", "\(e.stdout)")
        // A process exec'd (and left running) counts in the container's cgroup, as seen from the host.
        #expect(try s.minirt("exec", "lim", "sh", "-c", "sleep 8 &").status == 0)
        // (pids.current, not cgroup.procs: v1 caches that list for a second.)
        let pidsNow = ((try? String(contentsOfFile: "/sys/fs/cgroup/pids/minirt/\(id)/pids.current", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pidsNow == "2", "the exec'd process is in the container's cgroup: pids.current \(pidsNow)")
        let st = try s.minirt("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "lim")
        #expect(st.status == 0 && st.lines.first?.hasPrefix("lim 2 ") == true && st.stdout.contains("/ 64MiB"), "\(st.stdout) \(st.stderr)")
        try s.minirt("rm", "-f", "lim")
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/minirt/\(id)"), "cgroup left after rm")
        try s.finish()
    }

    @Test func customSeccompProfile() throws {
        let s = try Sandbox()
        let profile = s.root + "/.profile.json"
        try """
            {"defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
            """.write(toFile: profile, atomically: true, encoding: .utf8)
        let o = try sh(s, ["--security-opt", "seccomp=\(profile)"], "mkdir /tmp/d 2>&1; grep '^Seccomp:' /proc/self/status")
        #expect(o.stdout.contains("Permission denied") && o.lines.last == "Seccomp:\t2", "\(o.stdout) \(o.stderr)")
        try s.finish()
    }

    @Test func badConfinementInput() throws {
        let s = try Sandbox()
        let bad = s.root + "/.bad.json"
        try "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [ {\"names\": [\"read\"], \"action\": 3} ]}"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let broken = s.root + "/.broken.json"
        try "{\"defaultAction\": \n  oops }".write(toFile: broken, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--cap-add", "NET_WIZARD"], "unknown capability \"NET_WIZARD\""),
            (["--cap-drop", "12"], "unknown capability \"12\""),
            (["--security-opt", "seccomp=\(bad)"], "seccomp profile \(bad): syscalls[0].action"),
            (["--security-opt", "seccomp=\(broken)"], "seccomp profile \(broken): not valid JSON"),
            (["--security-opt", "seccomp=/no/such.json"], "cannot read seccomp profile /no/such.json"),
            (["--security-opt", "apparmor-ish"], "invalid --security-opt"),
            (["-v", "/no/such/dir:/data"], "bind source /no/such/dir does not exist"),
            (["-v", "\(s.root):/a/../../etc"], "would leave the container's root"),
            (["-v", "\(s.root):data"], "give an absolute path inside the container"),
            (["-v", "vol%name:/data"], "invalid volume name"),
            (["--mount", "type=volume,source=-x,target=/data"], "invalid volume name"),
            (["--mount", "type=bind,source=\(s.root)"], "has no target"),
            (["--mount", "type=nfs,target=/x"], "type=nfs is not supported"),
            (["--memory", "3x"], "invalid --memory 3x"),
            (["--memory", "1k"], "below the minimum"),
            (["--memory-swap", "64m"], "needs --memory"),
            (["--cpus", "lots"], "invalid --cpus lots"),
            (["--user", "ghost"], "unable to find user ghost"),
            (["--user", "0:ghosts"], "unable to find group ghosts"),
        ]
        for (flags, message) in cases {
            let before = s.containerFolders()
            let o = try s.minirt(["run", "--rm", "--network", "none"] + flags + ["busybox", "true"])
            #expect(o.status == 125, "\(flags): \(o.status) \(o.stderr)")
            #expect(o.stderr.split(separator: "\n").count == 1 && o.stderr.contains(message), "\(flags): \(o.stderr)")
            #expect(s.containerFolders() == before, "\(flags) left state")
        }
        try s.finish()
    }
}
