import Foundation
import Testing

/// The differential suite against runc (issue 11): each case changes one part
/// of `runc spec`'s bundle, runs a probe under Debian's runc and under minirt,
/// and compares what the probe prints and the exit status. Where minirt
/// deliberately differs, the case says so in `differs`.
@Suite struct DifferentialTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var probe: String
        /// Changes to config.json, as JSON-path assignments on the decoded object.
        var change: @Sendable (inout [String: Any]) -> Void = { _ in }
        /// A deliberate difference: why, and what minirt prints instead.
        var differs: (why: String, output: String)? = nil
        var description: String { name }
    }

    static func set(_ c: inout [String: Any], _ path: [String], _ value: Any) {
        guard let first = path.first else { return }
        if path.count == 1 { c[first] = value; return }
        var inner = c[first] as? [String: Any] ?? [:]
        set(&inner, Array(path.dropFirst()), value)
        c[first] = inner
    }

    static func removeNamespace(_ c: inout [String: Any], _ type: String) {
        var linux = c["linux"] as? [String: Any] ?? [:]
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != type }
        c["linux"] = linux
    }

    static let status = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Uid|Gid|Groups):' /proc/self/status"

    static let cases: [Case] = [
        Case(name: "default spec", probe: status),
        Case(name: "hostname", probe: "hostname") { set(&$0, ["hostname"], "diff-host") },
        Case(name: "env and cwd", probe: "echo $FOO; pwd") { c in
            set(&c, ["process", "env"], ["PATH=/bin:/usr/bin", "FOO=bar"]); set(&c, ["process", "cwd"], "/tmp") },
        Case(name: "missing cwd is created", probe: "pwd") { set(&$0, ["process", "cwd"], "/made/by/runtime") },
        Case(name: "user and groups", probe: "id; " + status) { set(&$0, ["process", "user"], ["uid": 1000, "gid": 1000, "additionalGids": [10, 20]]) },
        Case(name: "exit status", probe: "exit 42"),
        Case(name: "no new privileges off", probe: status) { set(&$0, ["process", "noNewPrivileges"], false) },
        Case(name: "more capabilities", probe: status) { c in
            let caps = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
            set(&c, ["process", "capabilities"], ["bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps]) },
        Case(name: "no capabilities", probe: status) { set(&$0, ["process", "capabilities"], [String: Any]()) },
        Case(name: "rlimits", probe: "ulimit -n; ulimit -Hn; ulimit -u; ulimit -c") { c in
            set(&c, ["process", "rlimits"], [["type": "RLIMIT_NOFILE", "soft": 100, "hard": 200], ["type": "RLIMIT_NPROC", "soft": 50, "hard": 60],
                                              ["type": "RLIMIT_CORE", "soft": 0, "hard": 0]]) },
        Case(name: "writable root", probe: "touch /newfile && echo wrote") { set(&$0, ["root", "readonly"], false) },
        Case(name: "read-only root", probe: "touch /newfile 2>/dev/null || echo refused"),
        Case(name: "masked paths", probe: "cat /proc/kcore 2>&1 | head -c 40; ls /sys/firmware | wc -l"),
        Case(name: "read-only paths", probe: "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo refused"),
        Case(name: "extra masked path", probe: "cat /proc/version | wc -c") { c in
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["maskedPaths"] = (linux["maskedPaths"] as? [String] ?? []) + ["/proc/version"]
            c["linux"] = linux },
        Case(name: "tmpfs mount with size", probe: "df -k /scratch | tail -1 | awk '{print $2}'; touch /scratch/x && echo ok") { c in
            c["mounts"] = (c["mounts"] as? [[String: Any]] ?? []) + [["destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=4m", "mode=1777"]]] },
        Case(name: "read-only bind mount", probe: "cat /data/hostname >/dev/null && echo read; touch /data/x 2>/dev/null || echo refused") { c in
            c["mounts"] = (c["mounts"] as? [[String: Any]] ?? []) + [["destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]]] },
        Case(name: "host network namespace", probe: "test -e /sys/class/net/lo && ls /sys/class/net | wc -l") { removeNamespace(&$0, "network") },
        Case(name: "own network namespace", probe: "ls /sys/class/net"),
        Case(name: "host uts namespace", probe: "test \"$(hostname)\" != runc && echo host-name") { c in
            removeNamespace(&c, "uts"); c["hostname"] = nil },
        Case(name: "hostname without a uts namespace is refused", probe: "hostname") { removeNamespace(&$0, "uts") },
        Case(name: "host ipc namespace", probe: "ls /proc/sysvipc >/dev/null && echo ok") { removeNamespace(&$0, "ipc") },
        Case(name: "pid 1", probe: "echo $$; cat /proc/1/comm"),
        Case(name: "sysctl", probe: "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward") { c in
            set(&c, ["linux", "sysctl"], ["kernel.shmmax": "4096000", "net.ipv4.ip_forward": "1"]) },
        Case(name: "oomScoreAdj", probe: "cat /proc/self/oom_score_adj") { set(&$0, ["process", "oomScoreAdj"], 250) },
        Case(name: "seccomp errno", probe: "mkdir /tmp/d 2>&1; echo $?") { c in
            set(&c, ["root", "readonly"], false)
            set(&c, ["linux", "seccomp"], ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                           "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13]]]) },
        Case(name: "seccomp kill", probe: "mkdir /tmp/d; echo survived") { c in
            set(&c, ["root", "readonly"], false)
            set(&c, ["linux", "seccomp"], ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                           "syscalls": [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"]]]) },
        Case(name: "devices", probe: "ls -l /dev/null /dev/zero /dev/full /dev/tty /dev/urandom /dev/random | awk '{print $1, $5, $6, $10}'"),
        Case(name: "apparmor profile without AppArmor is refused", probe: "true") { set(&$0, ["process", "apparmorProfile"], "docker-default") },
        Case(name: "selinux label without SELinux is refused", probe: "true") { set(&$0, ["process", "selinuxLabel"], "system_u:system_r:container_t:s0") },
        Case(name: "cgroup namespace", probe: "cat /proc/self/cgroup | head -3 | sed 's/^[0-9]*://'",
             differs: ("without linux.cgroupsPath runc makes a cgroup named after the id (and its cgroup namespace shows it); minirt makes one only when the spec names it, as engines always do",
                       "name=systemd:/\npids:/\nblkio:/\n")),
    ]

    @Test(arguments: cases) func behavesAsRunc(_ c: Case) throws {
        let s = try Sandbox(isolatedNetwork: false)
        let slug = c.name.replacingOccurrences(of: " ", with: "-")
        let dir = try OCITests.bundle(s, name: slug, specBy: ["/usr/sbin/runc"], args: ["sh", "-c", c.probe])
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        c.change(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let runc = try Sandbox.exec("/usr/sbin/runc", ["--root", s.root + "/.runc", "run", "--bundle", dir, "diff-\(slug)"])
        let ours = try Sandbox.exec(s.binary, ["oci", "--root", s.root + "/.oci", "run", "--bundle", dir, "diff-\(slug)"], env: s.environment)
        #expect(ours.status == runc.status, "\(c.name): exit status minirt \(ours.status) vs runc \(runc.status); minirt: \(ours.stderr) runc: \(runc.stderr)")
        if let d = c.differs {
            #expect(ours.stdout == d.output && ours.stdout != runc.stdout, "\(c.name) (\(d.why)):\nminirt:\n\(ours.stdout)\nrunc:\n\(runc.stdout)")
        } else {
            #expect(ours.stdout == runc.stdout, "\(c.name):\nminirt:\n\(ours.stdout)\nrunc:\n\(runc.stdout)")
        }
        try s.finish()
    }
}
