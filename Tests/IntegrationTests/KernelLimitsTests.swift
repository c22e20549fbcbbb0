import Foundation
import Testing

/// --ulimit, --sysctl, --oom-score-adj and --domainname: the runtime-spec's
/// rlimits, sysctl, oomScoreAdj and domainname, as docker documents the flags.
@Suite struct KernelLimitsTests {
    @Test func limitsReachTheProcess() throws {
        let s = try Sandbox()
        let o = try s.minirt("run", "--rm", "--ulimit", "nofile=512:1024", "--ulimit", "nproc=100", "--oom-score-adj", "500",
                             "--domainname", "corp.example", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=100000",
                             "busybox", "sh", "-c",
                             "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
        #expect(o.status == 0 && o.lines == ["512", "1024", "100", "500", "corp.example", "1", "100000"], "\(o.stdout) \(o.stderr)")
        // The host's values are untouched: the container's are its own namespaces'.
        #expect(try s.host("cat", "/proc/sys/kernel/shmmax").stdout != "100000\n")
        try s.finish()
    }

    @Test func refusedCleanly() throws {
        let s = try Sandbox()
        func refused(_ args: [String], _ mentions: String) throws {
            let o = try s.minirt(["run", "--rm"] + args + ["busybox", "true"])
            #expect(o.status == 125 && o.stderr.contains(mentions) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        try refused(["--sysctl", "kernel.panic=1"], "is not namespaced")
        try refused(["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "needs a network namespace")
        try refused(["--sysctl", "nonsense"], "write NAME=VALUE")
        try refused(["--ulimit", "nofile=5:3"], "soft limit is above the hard limit")
        try refused(["--ulimit", "files=5"], "invalid --ulimit")
        try refused(["--oom-score-adj", "5000"], "between -1000 and 1000")
        // This host's root lacks CAP_SYS_RESOURCE: a negative adjustment and a limit
        // above minirt's own hard limit are clear errors, not silent clamps.
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let bounding = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
        if bounding & (1 << 24) == 0 { // CAP_SYS_RESOURCE
            try refused(["--network", "none", "--oom-score-adj", "-500"], "CAP_SYS_RESOURCE")
            try refused(["--network", "none", "--ulimit", "nofile=99999999"], "CAP_SYS_RESOURCE")
        }
        #expect(s.containerFolders().isEmpty)
        try s.finish()
    }
}

/// docker's cgroup flags beyond memory/cpus/shares/pids: the files the
/// container sees in its own cgroup (bound at /sys/fs/cgroup) and `inspect`.
@Suite struct CgroupFlagsTests {
    /// A block device of this host, for the throttling flags.
    static var blockDevice: String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).sorted().filter { !$0.hasPrefix("loop") }
        return names.map { "/dev/\($0)" }.first { FileManager.default.fileExists(atPath: $0) }
    }

    @Test func limitsReachTheCgroup() throws {
        let s = try Sandbox()
        let dev = try #require(Self.blockDevice, "no block device on this host")
        let o = try s.minirt("run", "--name", "lim", "--network", "none", "--cpuset-cpus", "0", "--cpuset-mems", "0",
                             "--cpu-period", "50000", "--cpu-quota", "25000", "-m", "64m", "--memory-reservation", "32m",
                             "--memory-swappiness", "10", "--oom-kill-disable",
                             "--device-read-bps", "\(dev):1mb", "--device-write-iops", "\(dev):100", "busybox", "sh", "-c",
                             "cd /sys/fs/cgroup; cat cpuset/cpuset.cpus cpuset/cpuset.mems cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us "
                                + "memory/memory.soft_limit_in_bytes memory/memory.swappiness; grep oom_kill_disable memory/memory.oom_control; "
                                + "cut -d' ' -f2 blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device")
        #expect(o.status == 0 && o.lines == ["0", "0", "50000", "25000", "33554432", "10", "oom_kill_disable 1", "1048576", "100"], "\(o.stdout) \(o.stderr)")
        let view = try s.minirt("inspect", "-f", "{{.HostConfig.CpusetCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.OomKillDisable}} {{json .HostConfig.BlkioDeviceReadBps}}", "lim")
        #expect(view.stdout == "0 25000 33554432 10 true [{\"Path\":\"\(dev)\",\"Rate\":1048576}]\n", "\(view.stdout)")
        try s.minirt("rm", "lim")
        try s.finish()
    }

    @Test func refusedWithTheReason() throws {
        let s = try Sandbox()
        func refused(_ args: [String], _ mentions: String) throws {
            let o = try s.minirt(["run", "--rm", "--network", "none"] + args + ["busybox", "true"])
            #expect(o.status == 125 && o.stderr.contains(mentions) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
        }
        try refused(["--kernel-memory", "64m"], "no longer supported")
        try refused(["--memory-swappiness", "101"], "0 to 100")
        try refused(["--cpus", "1", "--cpu-quota", "50000"], "give one of them")
        try refused(["--cpuset-cpus", "0;1"], "invalid --cpuset-cpus")
        try refused(["--blkio-weight", "5"], "10 to 1000")
        try refused(["--device-read-bps", "/etc/passwd:1mb"], "not a block device")
        try refused(["--device-read-iops", "/dev/nonexistent:10"], "No such file")
        // A weight reaches blkio.weight or BFQ's blkio.bfq.weight; a host with
        // neither file refuses it, never skips it.
        let w = try s.minirt("run", "--rm", "--network", "none", "--blkio-weight", "300", "busybox", "sh", "-c",
                             "cat /sys/fs/cgroup/blkio/blkio.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.weight")
        #expect((w.status == 0 && w.stdout.contains("300")) || (w.status == 125 && w.stderr.contains("BFQ")), "\(w.stdout) \(w.stderr)")
        #expect(s.containerFolders().isEmpty)
        try s.finish()
    }
}

/// --pid host|container:NAME and --ipc container:NAME: the namespaces shared.
@Suite struct SharedNamespaceFlagsTests {
    @Test func pidAndIpcOfAnotherContainer() throws {
        let s = try Sandbox()
        try s.minirt("run", "-d", "--name", "first", "--network", "none", "--ipc", "shareable", "busybox", "sleep", "120")
        let pid = try s.waitForPid("first")
        let o = try s.minirt("run", "--rm", "--network", "none", "--pid", "container:first", "--ipc", "container:first", "busybox", "sh", "-c",
                             "tr '\\0' ' ' < /proc/1/cmdline; echo; readlink /proc/self/ns/ipc")
        let ipc = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/ipc")) ?? "?"
        #expect(o.status == 0 && o.lines == ["sleep 120 ", ipc], "\(o.stdout) \(o.stderr)")
        let host = try s.minirt("run", "--rm", "--network", "none", "--pid", "host", "busybox", "sh", "-c", "test -d /proc/\(pid) && echo sees-host")
        #expect(host.stdout == "sees-host\n", "\(host.stdout) \(host.stderr)")
        let missing = try s.minirt("run", "--rm", "--pid", "container:nope", "busybox", "true")
        #expect(missing.status == 125 && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        #expect(try s.minirt("run", "--rm", "--pid", "shared", "busybox", "true").status == 125)
        try s.minirt("rm", "-f", "first")
        try s.finish()
    }
}
