import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The differential suite against runc (issue 11): each case changes one part
/// of `runc spec`'s bundle, runs a probe under Debian's runc and under minirt,
/// and compares what the probe prints and the exit status; lifecycle cases
/// drive both through the same sequence of runtime commands and compare the
/// transcripts. Where minirt deliberately differs, the case says so in
/// `differs`. The suite prints `N passed, M failed`.
@Suite struct DifferentialTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var probe: String
        /// Changes to config.json, as JSON-path assignments on the decoded object.
        /// "@BUNDLE@" in any string becomes the bundle's directory.
        var change: @Sendable (inout [String: Any]) -> Void = { _ in }
        /// A deliberate difference: why, and what minirt prints instead.
        var differs: (why: String, output: String)? = nil
        /// A deliberate refusal of what runc runs: why.
        var refused: String? = nil
        /// What runc 1.1.5 refuses and minirt runs: why, and what it prints.
        var beyondRunc: (why: String, output: String)? = nil
        /// A lifecycle case: commands run against the runtime (`rt`, which
        /// returns the outcome), the transcript compared instead of a run.
        var steps: (@Sendable (_ rt: ([String]) throws -> Outcome, _ id: String, _ bundle: String) throws -> String)? = nil
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

    static func addNamespace(_ c: inout [String: Any], _ ns: [String: Any]) {
        var linux = c["linux"] as? [String: Any] ?? [:]
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []) + [ns]
        c["linux"] = linux
    }

    static func addMount(_ c: inout [String: Any], _ m: [String: Any]) {
        c["mounts"] = (c["mounts"] as? [[String: Any]] ?? []) + [m]
    }

    /// A user namespace mapping container ids 0-65535 to host ids 100000-165535.
    static func userNamespace(_ c: inout [String: Any]) {
        addNamespace(&c, ["type": "user"])
        let map: [[String: Any]] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        set(&c, ["linux", "uidMappings"], map)
        set(&c, ["linux", "gidMappings"], map)
    }

    /// The bundle's `out` directory at /out: hooks write there, the probe reads it.
    static func outMount(_ c: inout [String: Any]) {
        addMount(&c, ["destination": "/out", "type": "bind", "source": "@BUNDLE@/out", "options": ["rbind", "rw"]])
    }

    static func hook(_ kind: String, _ path: String, _ args: [String] = [], timeout: Int? = nil) -> [String: Any] {
        var h: [String: Any] = ["path": path, "args": [path] + args, "env": ["PATH=/bin:/usr/bin"]]
        if let timeout { h["timeout"] = timeout }
        return h
    }

    static func hooks(_ c: inout [String: Any], _ kind: String, _ list: [[String: Any]]) {
        var h = c["hooks"] as? [String: Any] ?? [:]
        h[kind] = list
        c["hooks"] = h
    }

    /// What every hook does: record the state's status, whether the pid is 1,
    /// its uid; it exits with its third argument. In the bundle and in the rootfs.
    static let hookScript = """
        #!/bin/sh
        state=$(cat)
        status=$(echo "$state" | sed -n 's/.*"status": *"\\([a-z]*\\)".*/\\1/p')
        pid=$(echo "$state" | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
        if [ "$pid" = 1 ]; then where=pid-1; else where=host-pid; fi
        echo "$2 status=$status $where uid=$(id -u)" >> "$1"
        exit ${3:-0}

        """

    static let status = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Uid|Gid|Groups):' /proc/self/status"
    static func seccomp(_ c: inout [String: Any], _ rules: [[String: Any]]) {
        set(&c, ["root", "readonly"], false)
        let profile: [String: Any] = ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules]
        set(&c, ["linux", "seccomp"], profile)
    }
    static func cgroup(_ c: inout [String: Any], _ name: String, _ resources: [String: Any]) {
        set(&c, ["linux", "cgroupsPath"], "/minirt-test-diff/\(name)")
        set(&c, ["linux", "resources"], resources)
    }

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
        // Without linux.cgroupsPath both make a cgroup named after the id. (minirt
        // places the container in the resource controllers only, not name=systemd.)
        // (runc's default path is relative to its own cgroup, minirt's to the root:
        // they differ where the caller sits below the root, as this memory cgroup does.)
        Case(name: "cgroup without cgroupsPath", probe: "grep -E ':(pids|blkio):' /proc/self/cgroup | sed 's/^[0-9]*://'"),
        Case(name: "cgroup namespace", probe: "grep -E ':(pids|blkio|memory):' /proc/self/cgroup | sed 's/^[0-9]*://'") { addNamespace(&$0, ["type": "cgroup"]) },
        // User namespaces
        Case(name: "user namespace maps", probe: "id; cat /proc/self/uid_map /proc/self/gid_map") { userNamespace(&$0) },
        Case(name: "user namespace file owners", probe: "stat -c '%u %g' /bin /etc/passwd") { userNamespace(&$0) },
        Case(name: "user namespace capabilities", probe: status) { userNamespace(&$0) },
        Case(name: "user namespace and a user", probe: "id; " + status) { c in
            userNamespace(&c); set(&c, ["process", "user"], ["uid": 1000, "gid": 1000, "additionalGids": [10]]) },
        Case(name: "user namespace devices are the host's nodes", probe: "ls -l /dev/null /dev/zero | awk '{print $1, $5, $6, $10}'") { userNamespace(&$0) },
        Case(name: "user namespace hostname and sysfs", probe: "hostname; ls /sys/class/net") { c in
            userNamespace(&c); c["hostname"] = "userns-host" },
        Case(name: "user namespace with a cgroup namespace", probe: "cat /proc/self/cgroup | grep -c ':/$'") { c in
            userNamespace(&c); addNamespace(&c, ["type": "cgroup"]) },
        Case(name: "user namespace without maps is refused", probe: "true") { addNamespace(&$0, ["type": "user"]) },
        Case(name: "maps without a user namespace are refused", probe: "true",
             change: { c in userNamespace(&c); removeNamespace(&c, "user") },
             refused: "runc 1.1.5 ignores the maps and runs the container as the host's ids; ignoring them would weaken confinement"),
        Case(name: "user namespace, writable root and a tmpfs", probe: "touch /tmp/f && stat -c '%u' /tmp/f") { c in
            userNamespace(&c)
            addMount(&c, ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]]) },
        // Hooks: each kind with its state, where it runs, its failure
        Case(name: "createContainer hook", probe: "cat /out/log") { c in
            outMount(&c); hooks(&c, "createContainer", [hook("createContainer", "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", "createContainer"])]) },
        Case(name: "startContainer hook runs inside as the user", probe: "cat /out/log") { c in
            outMount(&c); set(&c, ["process", "user"], ["uid": 1000, "gid": 1000])
            hooks(&c, "startContainer", [hook("startContainer", "/hook.sh", ["/out/log", "startContainer"])]) },
        Case(name: "prestart and createRuntime hooks", probe: "cat /out/log") { c in
            outMount(&c)
            hooks(&c, "prestart", [hook("prestart", "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", "prestart"])])
            hooks(&c, "createRuntime", [hook("createRuntime", "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", "createRuntime"])]) },
        Case(name: "every hook kind in order", probe: "cat /out/log") { c in
            outMount(&c)
            for kind in ["prestart", "createRuntime", "createContainer"] {
                hooks(&c, kind, [hook(kind, "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", kind])])
            }
            hooks(&c, "startContainer", [hook("startContainer", "/hook.sh", ["/out/log", "startContainer"])]) },
        Case(name: "failing createContainer hook", probe: "echo ran") { c in
            outMount(&c); hooks(&c, "createContainer", [hook("createContainer", "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", "cc", "3"])]) },
        Case(name: "failing startContainer hook", probe: "echo ran") { c in
            outMount(&c); hooks(&c, "startContainer", [hook("startContainer", "/hook.sh", ["/out/log", "sc", "4"])]) },
        Case(name: "failing createRuntime hook", probe: "echo ran") { c in
            outMount(&c); hooks(&c, "createRuntime", [hook("createRuntime", "@BUNDLE@/hook.sh", ["@BUNDLE@/out/log", "cr", "5"])]) },
        Case(name: "hook timeout", probe: "echo ran") { c in
            hooks(&c, "createRuntime", [hook("createRuntime", "/bin/sleep", ["5"], timeout: 1)]) },
        Case(name: "startContainer hook in a user namespace", probe: "cat /out/log") { c in
            userNamespace(&c); outMount(&c)
            hooks(&c, "startContainer", [hook("startContainer", "/hook.sh", ["/out/log", "startContainer"])]) },
        // Process
        Case(name: "umask", probe: "umask; touch /tmp/f; stat -c %a /tmp/f") { c in
            set(&c, ["process", "user"], ["uid": 0, "gid": 0, "umask": 0o077])
            addMount(&c, ["destination": "/tmp", "type": "tmpfs", "source": "tmpfs"]) },
        Case(name: "default umask", probe: "umask"),
        Case(name: "bounding set only", probe: status) { c in
            set(&c, ["process", "capabilities"], ["bounding": ["CAP_NET_RAW", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]]) },
        Case(name: "inheritable and ambient", probe: status) { c in
            let caps = ["CAP_NET_BIND_SERVICE"]
            set(&c, ["process", "user"], ["uid": 1000, "gid": 1000])
            set(&c, ["process", "capabilities"], ["bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps]) },
        Case(name: "rlimit above the hard limit", probe: "ulimit -n") { c in
            set(&c, ["process", "rlimits"], [["type": "RLIMIT_NOFILE", "soft": 4_000_000, "hard": 4_000_000]]) },
        Case(name: "negative oomScoreAdj", probe: "cat /proc/self/oom_score_adj") { set(&$0, ["process", "oomScoreAdj"], -500) },
        Case(name: "command not found", probe: "true") { set(&$0, ["process", "args"], ["no-such-command"]) },
        Case(name: "command not executable", probe: "true") { set(&$0, ["process", "args"], ["/etc/passwd"]) },
        Case(name: "relative cwd is refused", probe: "pwd") { set(&$0, ["process", "cwd"], "tmp") },
        Case(name: "unknown fields are tolerated", probe: "echo ok") { c in
            c["futureField"] = ["x": 1]; set(&c, ["linux", "futureLinuxField"], true) },
        // Mounts
        Case(name: "tmpfs options", probe: "grep ' /scratch ' /proc/self/mounts | cut -d' ' -f3,4") { c in
            addMount(&c, ["destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=2m", "mode=700"]]) },
        Case(name: "bind mount of a file", probe: "wc -c < /hostname-file; grep ' /hostname-file ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1") { c in
            addMount(&c, ["destination": "/hostname-file", "type": "bind", "source": "/etc/hostname", "options": ["bind", "ro"]]) },
        Case(name: "bind mount flags", probe: "grep ' /data ' /proc/self/mounts | cut -d' ' -f4 | tr , '\\n' | grep -E '^(ro|rw|nosuid|nodev|noexec)$'") { c in
            addMount(&c, ["destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind", "nosuid", "nodev", "noexec", "ro"]]) },
        Case(name: "devpts and mqueue", probe: "grep -E ' /dev/(pts|mqueue) ' /proc/self/mounts | cut -d' ' -f2,3") ,
        Case(name: "sysfs is read-only", probe: "touch /sys/x 2>/dev/null || echo refused; grep ' /sys ' /proc/self/mounts | cut -d' ' -f3"),
        Case(name: "masked directory", probe: "ls /etc | wc -l") { c in
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["maskedPaths"] = (linux["maskedPaths"] as? [String] ?? []) + ["/etc"]
            c["linux"] = linux },
        Case(name: "extra read-only path", probe: "touch /tmp/x 2>/dev/null || echo refused") { c in
            set(&c, ["root", "readonly"], false)
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["readonlyPaths"] = (linux["readonlyPaths"] as? [String] ?? []) + ["/tmp"]
            c["linux"] = linux },
        // Namespaces
        Case(name: "host pid namespace", probe: "test $$ -ne 1 && echo host-pid") { removeNamespace(&$0, "pid") },
        Case(name: "unknown namespace type", probe: "true") { addNamespace(&$0, ["type": "no-such-namespace"]) },
        // runc 1.1.5 knows no time namespace and ignores linux.personality: so does minirt.
        Case(name: "time namespace is refused", probe: "true") { addNamespace(&$0, ["type": "time"]) },
        Case(name: "personality is ignored", probe: "uname -m") { set(&$0, ["linux", "personality"], ["domain": "LINUX32"]) },
        Case(name: "idmapped mounts are refused", probe: "ls -ln /data | head -2",
             change: { addMount(&$0, ["destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind", "ro", "idmap"],
                                      "uidMappings": [["containerID": 0, "hostID": 100000, "size": 1]],
                                      "gidMappings": [["containerID": 0, "hostID": 100000, "size": 1]]]) },
             refused: "runc 1.1.5 ignores idmap and the mount's maps and mounts with the host's ids, which would give the container files it should not own"),
        // Sysctl
        Case(name: "sysctl outside any namespace is refused", probe: "true") { set(&$0, ["linux", "sysctl"], ["kernel.panic": "1"]) },
        Case(name: "net sysctl in the host network is refused", probe: "true") { c in
            removeNamespace(&c, "network"); set(&c, ["linux", "sysctl"], ["net.ipv4.ip_forward": "1"]) },
        // Seccomp actions
        Case(name: "seccomp trap", probe: "mkdir /tmp/d; echo $?") { seccomp(&$0, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"]]) },
        Case(name: "seccomp log", probe: "mkdir /tmp/log-d && rmdir /tmp/log-d && echo made") { seccomp(&$0, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"]]) },
        Case(name: "seccomp kill process", probe: "mkdir /tmp/d; echo survived") { seccomp(&$0, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"]]) },
        Case(name: "seccomp trace without a tracer", probe: "mkdir /tmp/d 2>&1; echo $?") { seccomp(&$0, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE"]]) },
        Case(name: "seccomp filter flags", probe: "mkdir /tmp/d 2>/dev/null; echo $?; grep Seccomp: /proc/self/status",
             change: { c in
                 seccomp(&c, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30]])
                 set(&c, ["linux", "seccomp", "flags"], ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]) },
             beyondRunc: ("runc 1.1.5 refuses every linux.seccomp.flags entry; minirt passes the three it knows to the kernel", "1\nSeccomp:\t2\n")),
        Case(name: "seccomp errno default", probe: "mkdir /tmp/d 2>&1; echo $?") { seccomp(&$0, [["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"]]) },
        Case(name: "seccomp argument match", probe: "touch /tmp/f; chmod 777 /tmp/f 2>&1; echo $?; chmod 755 /tmp/f; echo $?") { c in
            seccomp(&c, [["names": ["fchmodat", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [["index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"]]],
                         ["names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [["index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"]]]]) },
        // Cgroups (v1 here: runc cannot be put on v2 on these machines)
        Case(name: "memory limit", probe: "cat /sys/fs/cgroup/memory/memory.limit_in_bytes") { cgroup(&$0, "memory", ["memory": ["limit": 67_108_864]]) },
        Case(name: "cpu quota and shares", probe: "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares") {
            cgroup(&$0, "cpu", ["cpu": ["quota": 50_000, "period": 100_000, "shares": 512]]) },
        Case(name: "pids limit", probe: "cat /sys/fs/cgroup/pids/pids.max") { cgroup(&$0, "pids", ["pids": ["limit": 42]]) },
        Case(name: "device rule", probe: "echo x > /dev/null && echo wrote; head -c1 /dev/zero >/dev/null && echo read") {
            cgroup(&$0, "devices", ["devices": [["allow": false, "access": "rwm"], ["allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"]]]) },
        Case(name: "cpuset", probe: "cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/cpuset.mems") {
            cgroup(&$0, "cpuset", ["cpu": ["cpus": "0", "mems": "0"]]) },
        Case(name: "block I/O throttling", probe: "cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device") {
            let (major, minor) = DifferentialTests.blockDevice
            cgroup(&$0, "blkio", ["blockIO": ["throttleReadBpsDevice": [["major": major, "minor": minor, "rate": 1_048_576]],
                                              "throttleWriteIOPSDevice": [["major": major, "minor": minor, "rate": 100]]]]) },
        Case(name: "memory swappiness and the OOM killer",
             probe: "cat /sys/fs/cgroup/memory/memory.swappiness; grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control") {
            cgroup(&$0, "swappiness", ["memory": ["swappiness": 10, "disableOOMKiller": true]]) },
        Case(name: "kernel TCP buffer limit", probe: "cat /sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes",
             change: { cgroup(&$0, "kerneltcp", ["memory": ["kernelTCP": 8_388_608]]) },
             differs: ("runc 1.1.5 ignores memory.kernelTCP; minirt writes it (cgroup v1 still enforces it), as ignoring a limit would weaken confinement", "8388608\n")),
        Case(name: "unified resources on cgroup v1 are refused", probe: "true") { cgroup(&$0, "unified", ["unified": ["memory.high": "100000000"]]) },
        Case(name: "own cgroup seen without a cgroup namespace", probe: "cat /proc/self/cgroup | grep -E ':(pids|memory):'") {
            cgroup(&$0, "own", ["pids": ["limit": 100]]) },
        // Lifecycle: the same commands against both runtimes
        Case(name: "state through the lifecycle", probe: "sleep 30", steps: { rt, id, bundle in
            var t = ""
            func status() throws -> String {
                let o = try rt(["state", id])
                return o.status == 0 ? (DifferentialTests.field(o.stdout, "status") ?? "?") : "exit \(o.status)"
            }
            t += "create \(try rt(["create", "--bundle", bundle, id]).status) \(try status())\n"
            t += "start \(try rt(["start", id]).status) \(try status())\n"
            t += "pause \(try rt(["pause", id]).status) \(try status())\n"
            t += "resume \(try rt(["resume", id]).status) \(try status())\n"
            t += "kill \(try rt(["kill", id, "KILL"]).status) \(try DifferentialTests.waitStopped(rt, id))\n"
            t += "delete \(try rt(["delete", id]).status) \(try status())\n"
            return t
        }),
        Case(name: "pid file", probe: "sleep 30", steps: { rt, id, bundle in
            let file = bundle + "/out/pid"
            let c = try rt(["create", "--bundle", bundle, "--pid-file", file, id]).status
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let statePid = DifferentialTests.field(try rt(["state", id]).stdout, "pid") ?? "?"
            _ = try rt(["delete", "--force", id])
            return "create \(c) digits-only \(!text.isEmpty && text.allSatisfy(\.isNumber)) same-as-state \(text == statePid)\n"
        }),
        Case(name: "delete of a created container", probe: "sleep 30", steps: { rt, id, bundle in
            let c = try rt(["create", "--bundle", bundle, id]).status
            let d = try rt(["delete", id]).status
            return "create \(c) delete \(d) state \(try rt(["state", id]).status)\n"
        }),
        Case(name: "start twice and start of a missing container", probe: "sleep 30", steps: { rt, id, bundle in
            let c = try rt(["create", "--bundle", bundle, id]).status
            let s1 = try rt(["start", id]).status, s2 = try rt(["start", id]).status
            let missing = try rt(["start", id + "-missing"])
            _ = try rt(["delete", "--force", id])
            return "create \(c) start \(s1) again \(s2) missing \(missing.status) \(missing.stderr.contains("does not exist"))\n"
        }),
        Case(name: "kill --all of a stopped container and delete --force of a missing one", probe: "true", steps: { rt, id, bundle in
            let c = try rt(["create", "--bundle", bundle, id]).status
            let s = try rt(["start", id]).status
            let stopped = try DifferentialTests.waitStopped(rt, id)
            let k = try rt(["kill", "--all", id, "KILL"]).status
            let d = try rt(["delete", id]).status
            let f = try rt(["delete", "--force", id]).status
            return "create \(c) start \(s) \(stopped) kill-all \(k) delete \(d) force-missing \(f)\n"
        }),
        Case(name: "signal names and numbers", probe: "trap 'echo' USR1; while true; do sleep 1; done", steps: { rt, id, bundle in
            var t = "create \(try rt(["create", "--bundle", bundle, id]).status) start \(try rt(["start", id]).status)\n"
            for sig in ["SIGUSR1", "USR1", "10", "NOSUCHSIG"] { t += "kill \(sig) \(try rt(["kill", id, sig]).status)\n" }
            _ = try rt(["delete", "--force", id])
            return t
        }),
        Case(name: "exec with args and with --process", probe: "sleep 30", steps: { rt, id, bundle in
            var t = "create \(try rt(["create", "--bundle", bundle, id]).status) start \(try rt(["start", id]).status)\n"
            let e = try rt(["exec", id, "sh", "-c", "echo in; exit 3"])
            t += "exec \(e.status) \(e.stdout)"
            let process: [String: Any] = ["args": ["sh", "-c", "echo $FOO; id -u; pwd"], "env": ["PATH=/bin", "FOO=bar"], "cwd": "/tmp",
                                          "user": ["uid": 1000, "gid": 1000], "terminal": false]
            try JSONSerialization.data(withJSONObject: process).write(to: URL(fileURLWithPath: bundle + "/out/process.json"))
            let p = try rt(["exec", "--process", bundle + "/out/process.json", id])
            t += "exec --process \(p.status) \(p.stdout)"
            _ = try rt(["delete", "--force", id])
            return t
        }),
        Case(name: "exec into a user namespace", probe: "sleep 30", change: { userNamespace(&$0) }, steps: { rt, id, bundle in
            var t = "create \(try rt(["create", "--bundle", bundle, id]).status) start \(try rt(["start", id]).status)\n"
            let e = try rt(["exec", id, "sh", "-c", "id; cat /proc/self/uid_map"])
            t += "exec \(e.status) \(e.stdout)"
            _ = try rt(["delete", "--force", id])
            return t
        }),
        Case(name: "ps and list as JSON", probe: "sleep 30", steps: { rt, id, bundle in
            var t = "create \(try rt(["create", "--bundle", bundle, id]).status) start \(try rt(["start", id]).status)\n"
            let ps = try rt(["ps", "--format", "json", id])
            let pids = (try? JSONSerialization.jsonObject(with: Data(ps.stdout.utf8))) as? [Int]
            t += "ps \(ps.status) \(pids?.count ?? -1)\n"
            let list = try rt(["list", "--format", "json"])
            let entries = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8))) as? [[String: Any]] ?? []
            t += "list \(list.status) \(entries.filter { $0["id"] as? String == id }.compactMap { $0["status"] as? String })\n"
            _ = try rt(["delete", "--force", id])
            return t
        }),
        Case(name: "joining another container's pid and ipc namespaces by path", probe: "sleep 30", steps: { rt, id, bundle in
            var t = "create \(try rt(["create", "--bundle", bundle, id]).status) start \(try rt(["start", id]).status)\n"
            let pid = DifferentialTests.field(try rt(["state", id]).stdout, "pid") ?? "0"
            let path = bundle + "/config.json"
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            defer { try? original.write(to: URL(fileURLWithPath: path)) } // the other runtime starts from the same bundle
            var c = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            var linux = c["linux"] as? [String: Any] ?? [:]
            linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ns in
                ["pid", "ipc"].contains(ns["type"] as? String ?? "") ? ["type": ns["type"]!, "path": "/proc/\(pid)/ns/\(ns["type"]!)"] : ns
            }
            c["linux"] = linux
            var process = c["process"] as? [String: Any] ?? [:]
            process["args"] = ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; test $$ -ne 1 && echo not-the-init"]
            c["process"] = process
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: path))
            let joined = try rt(["run", "--bundle", bundle, id + "-b"])
            t += "joined \(joined.status) \(joined.stdout)"
            _ = try rt(["delete", "--force", id])
            return t
        }),
        Case(name: "state of a missing container", probe: "true", steps: { rt, id, _ in
            let o = try rt(["state", id])
            return "state \(o.status) \(o.stderr.contains("container does not exist"))\n"
        }),
    ]

    /// A block device of this host (major, minor), for throttling cases.
    static let blockDevice: (Int, Int) = {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).sorted()
        for n in names where !n.hasPrefix("loop") {
            let text = (try? String(contentsOfFile: "/sys/block/\(n)/dev", encoding: .utf8)) ?? ""
            let f = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { Int($0) }
            if f.count == 2 { return (f[0], f[1]) }
        }
        return (7, 0)
    }()

    /// A field of a state JSON, as text.
    static func field(_ json: String, _ name: String) -> String? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any], let v = o[name] else { return nil }
        return "\(v)"
    }

    /// Waits (bounded) until the container is stopped; its status then.
    static func waitStopped(_ rt: ([String]) throws -> Outcome, _ id: String) throws -> String {
        var last = "?"
        for _ in 0..<100 {
            last = field(try rt(["state", id]).stdout, "status") ?? "?"
            if last == "stopped" { break }
            usleep(50_000)
        }
        return last
    }

    /// One runtime's invocation: stdio to files, so a created init that keeps
    /// them never holds the harness's pipes open.
    static func invoke(_ tool: [String], _ args: [String], in dir: String, env: [String: String]) throws -> Outcome {
        let out = dir + "/.out", err = dir + "/.err"
        let o = try Sandbox.exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >\(out) 2>\(err)"] + tool + args, env: env)
        return Outcome(status: o.status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                               stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Runs one case under both runtimes; nil when they agree (or differ as the case says), else why not.
    static func compare(_ c: Case, template: String) throws -> String? {
        let s = try Sandbox(isolatedNetwork: false)
        let slug = c.name.replacingOccurrences(of: " ", with: "-").filter { $0.isLetter || $0.isNumber || $0 == "-" }
        let id = "diff-" + String(slug.prefix(40))
        let dir = try OCITests.bundle(s, name: slug, specBy: ["/usr/sbin/runc"], args: ["sh", "-c", c.probe])
        // A container root in a user namespace must reach its rootfs.
        for d in [s.root, s.root + "/.bundles", dir] { chmod(d, 0o711) }
        let path = dir + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        c.change(&config)
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self).replacingOccurrences(of: "@BUNDLE@", with: dir)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        // Copied by cp from a file written before the cases run in parallel: a script this
        // process wrote itself could be inherited open by a child another case forks
        // meanwhile, and exec'ing it would fail with ETXTBSY.
        for script in [dir + "/hook.sh", dir + "/rootfs/hook.sh"] {
            try #require(try Sandbox.exec("/bin/cp", [template, script]).status == 0)
        }
        let runc = ["/usr/sbin/runc", "--root", s.root + "/.runc"], ours = [s.binary, "oci", "--root", s.root + "/.oci"]
        var results: [Outcome] = []
        for tool in [runc, ours] {
            // Each runtime starts from the same bundle: nothing the other's hooks wrote.
            try? FileManager.default.removeItem(atPath: dir + "/out")
            try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/rootfs/out", withIntermediateDirectories: true)
            chmod(dir + "/out", 0o777) // hooks run as the process's user too
            if let steps = c.steps {
                let transcript = try steps({ try invoke(tool, $0, in: dir, env: s.environment) }, id, dir)
                results.append(Outcome(status: 0, stdout: transcript, stderr: ""))
            } else {
                results.append(try Sandbox.exec(tool[0], Array(tool.dropFirst()) + ["run", "--bundle", dir, id], env: s.environment))
            }
        }
        try s.finish()
        let (r, m) = (results[0], results[1])
        // Two failures that agree prove nothing unless the case is about a failure.
        let aboutFailure = ["refused", "failing", "not found", "not executable", "timeout", "hard limit", "negative", "unknown", "exit status"]
            .contains { c.name.contains($0) }
        if let b = c.beyondRunc {
            return r.status != 0 && m.status == 0 && m.stdout == b.output ? nil : "(\(b.why)) minirt \(m.status) \(m.stdout) runc \(r.status): \(m.stderr)"
        }
        if !aboutFailure && c.steps == nil && r.status != 0 { return "runc failed where the case expects a run: \(r.stderr)" }
        if c.steps != nil && r.stdout.contains("create ") && !r.stdout.contains("create 0") { return "runc's create failed:\n\(r.stdout)" }
        if let why = c.refused {
            return m.status != 0 && r.status == 0 ? nil : "(refused by minirt: \(why)) minirt \(m.status) runc \(r.status): \(m.stderr)"
        }
        if m.status != r.status {
            return "exit status minirt \(m.status) vs runc \(r.status); minirt: \(m.stderr) runc: \(r.stderr)"
        }
        if let d = c.differs {
            if m.stdout != d.output || m.stdout == r.stdout { return "(\(d.why)):\nminirt:\n\(m.stdout)\nrunc:\n\(r.stdout)" }
        } else if m.stdout != r.stdout {
            return "\nminirt:\n\(m.stdout)\nrunc:\n\(r.stdout)"
        }
        return nil
    }

    @Test func behavesAsRunc() async throws {
        #expect(Self.cases.count >= 60, "the suite has \(Self.cases.count) cases")
        let template = FileManager.default.temporaryDirectory.path + "/minirt-test-hook-\(getpid()).sh"
        try Data(Self.hookScript.utf8).write(to: URL(fileURLWithPath: template))
        chmod(template, 0o755)
        defer { unlink(template) }
        // Four at a time: each case is two runtimes in a row, on a 2-core machine.
        let failures = try await withThrowingTaskGroup(of: (String, String?).self) { group in
            var pending = Self.cases[...]
            var failed: [(String, String)] = []
            for _ in 0..<4 { if let c = pending.popFirst() { group.addTask { (c.name, try Self.compare(c, template: template)) } } }
            while let (name, why) = try await group.next() {
                if let why { failed.append((name, why)) }
                if let c = pending.popFirst() { group.addTask { (c.name, try Self.compare(c, template: template)) } }
            }
            return failed
        }
        print("differential suite against runc: \(Self.cases.count - failures.count) passed, \(failures.count) failed")
        for (name, why) in failures.sorted(by: { $0.0 < $1.0 }) { Issue.record("\(name): \(why)") }
        // Nothing of either runtime's cgroups is left: the cases' own ones (under
        // a shared parent, which stays by design and goes here) and the default
        // ones named after the ids.
        let fm = FileManager.default
        for h in ((try? fm.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map({ "/sys/fs/cgroup/\($0)" }) {
            let parent = h + "/minirt-test-diff"
            rmdir(parent)
            #expect(access(parent, F_OK) != 0, "cgroup left: \(((try? fm.contentsOfDirectory(atPath: parent)) ?? []))")
            let named = ((try? fm.contentsOfDirectory(atPath: h)) ?? []).filter { $0.hasPrefix("diff-") }
            #expect(named.isEmpty, "cgroups left in \(h): \(named)")
        }
    }
}
