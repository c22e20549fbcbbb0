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
