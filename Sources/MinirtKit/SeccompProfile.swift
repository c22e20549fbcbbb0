import FoundationEssentials
import Glibc
import MinirtEngine

/// Seccomp profiles as users write them: Docker's format (rules that apply only
/// with some capabilities, architectures or kernels) or the OCI one, reduced to
/// the OCI form for one container once its capabilities are known.
public struct SeccompProfile: Decodable, Sendable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var syscalls: [Rule]?

    public struct ArchMap: Decodable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    public struct Rule: Decodable, Sendable {
        public var names: [String]?
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [OCISpec.SyscallArg]?
        public var includes: Condition?
        public var excludes: Condition?
        init(_ names: [String], _ action: String = "SCMP_ACT_ALLOW", errnoRet: UInt32? = nil,
             args: [OCISpec.SyscallArg]? = nil, includes: Condition? = nil, excludes: Condition? = nil) {
            self.names = names; self.action = action; self.errnoRet = errnoRet; self.args = args
            self.includes = includes; self.excludes = excludes
        }
    }

    public struct Condition: Decodable, Sendable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
        init(caps: [String]? = nil, arches: [String]? = nil, minKernel: String? = nil) {
            self.caps = caps; self.arches = arches; self.minKernel = minKernel
        }
    }

    /// Reads a profile file; errors name the file, the place and the reason.
    public static func load(_ path: String) throws -> SeccompProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError.invalid("cannot read seccomp profile \(path): check the path")
        }
        let profile: SeccompProfile
        do {
            profile = try JSONDecoder().decode(SeccompProfile.self, from: data)
        } catch let error as DecodingError {
            throw RunError.invalid("seccomp profile \(path): \(Self.describe(error))")
        }
        // Actions and operators are checked now, not at start.
        let actions = [profile.defaultAction] + (profile.syscalls ?? []).map(\.action)
        if actions.contains("SCMP_ACT_NOTIFY") {
            throw RunError.invalid("seccomp profile \(path): SCMP_ACT_NOTIFY needs a seccomp agent, which `minirt run` does not start: run the bundle with `minirt oci` and linux.seccomp.listenerPath")
        }
        do {
            _ = try SeccompFilter.action(profile.defaultAction, errno: profile.defaultErrnoRet)
            for (i, r) in (profile.syscalls ?? []).enumerated() {
                do {
                    _ = try SeccompFilter.action(r.action, errno: r.errnoRet)
                    if (r.names ?? []).isEmpty && r.name == nil { throw SeccompError.invalid("no syscall names") }
                } catch let e as SeccompError {
                    throw RunError.invalid("seccomp profile \(path): syscalls[\(i)]: \(e.description.replacing("seccomp profile: ", with: ""))")
                }
            }
        }
        return profile
    }

    public static func describe(_ error: DecodingError) -> String {
        func place(_ path: [CodingKey]) -> String {
            let s = path.map { k in k.intValue.map { "[\($0)]" } ?? ".\(k.stringValue)" }.joined()
            return s.hasPrefix(".") ? String(s.dropFirst()) : (s.isEmpty ? "top level" : s)
        }
        switch error {
        case .dataCorrupted(let c):
            return "not valid JSON at \(place(c.codingPath))"
        case .keyNotFound(let key, let c):
            return "\(place(c.codingPath + [key])): missing"
        case .typeMismatch(let type, let c):
            return "\(place(c.codingPath)): expected \(type)"
        case .valueNotFound(let type, let c):
            return "\(place(c.codingPath)): expected \(type), found null"
        @unknown default:
            return "\(error)"
        }
    }

    /// The rules that apply to a container with these capabilities on this host.
    public func resolve(capabilities: [String], arch: String = SeccompProfile.hostArch,
                        kernel: String = SeccompProfile.hostKernel) -> OCISpec.Seccomp {
        let caps = Set(capabilities.map(Capabilities.canonical))
        let arches = Self.archAliases(arch)
        func holds(_ c: Condition?, all: Bool) -> Bool {
            guard let c else { return all }
            var checks: [Bool] = []
            if let need = c.caps { checks.append(need.allSatisfy { caps.contains(Capabilities.canonical($0)) }) }
            if let a = c.arches { checks.append(a.contains { arches.contains($0) }) }
            if let k = c.minKernel { checks.append(Self.kernel(kernel, atLeast: k)) }
            // includes: every listed condition holds; excludes: any listed condition holds.
            return all ? checks.allSatisfy { $0 } : checks.contains(true)
        }
        var rules: [OCISpec.Syscall] = []
        for r in syscalls ?? [] where holds(r.includes, all: true) && !(r.excludes.map { holds($0, all: false) } ?? false) {
            rules.append(OCISpec.Syscall(names: r.names ?? [r.name].compactMap { $0 }, action: r.action,
                                         errnoRet: r.errnoRet, args: r.args))
        }
        var architectures = architectures
        if let map = archMap {
            let native = Self.scmpArch(arch)
            if let m = map.first(where: { $0.architecture == native }) { architectures = [m.architecture] + (m.subArchitectures ?? []) }
        }
        return OCISpec.Seccomp(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet,
                               architectures: architectures, syscalls: rules)
    }

    public static let hostArch = uname(\.machine)
    public static let hostKernel = uname(\.release)

    static func uname<T>(_ field: KeyPath<utsname, T>) -> String {
        var u = utsname()
        _ = Glibc.uname(&u)
        return withUnsafeBytes(of: u[keyPath: field]) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func archAliases(_ machine: String) -> Set<String> {
        switch machine {
        case "x86_64": return ["x86_64", "amd64"]
        case "aarch64": return ["aarch64", "arm64"]
        default: return [machine]
        }
    }

    static func scmpArch(_ machine: String) -> String {
        switch machine {
        case "x86_64": return "SCMP_ARCH_X86_64"
        case "aarch64": return "SCMP_ARCH_AARCH64"
        default: return "SCMP_ARCH_" + machine.uppercased()
        }
    }

    static func kernel(_ running: String, atLeast wanted: String) -> Bool {
        func parts(_ s: String) -> [Int] {
            s.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        }
        let a = parts(running), b = parts(wanted)
        return !a.lexicographicallyPrecedes(b)
    }
}

// MARK: the default profile

extension SeccompProfile {
    /// Equivalent in effect to Docker's default profile: an allow list (anything
    /// else fails with EPERM), with the namespace, mount, module, clock, keyring,
    /// tracing and BPF calls allowed only when the matching capability is held.
    /// Written here from the syscall families, not copied.
    public static let dockerDefault: SeccompProfile = {
        let sysAdmin = Condition(caps: ["CAP_SYS_ADMIN"])
        // CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP
        let namespaceFlags: UInt64 = 0x7E02_0000
        var rules: [Rule] = [
            Rule(allowed),
            Rule(["socket"], args: [OCISpec.SyscallArg(index: 0, value: 40, op: "SCMP_CMP_NE")]), // no AF_VSOCK
            Rule(["personality"], args: [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff].map {
                OCISpec.SyscallArg(index: 0, value: $0, op: "SCMP_CMP_EQ")
            }),
            Rule(["arch_prctl", "modify_ldt"], includes: Condition(arches: ["amd64", "x32", "x86"])),
            // Without CAP_SYS_ADMIN clone may not create namespaces; clone3's flags
            // sit behind a pointer no filter can read, so it reports ENOSYS and libc falls back to clone.
            Rule(["clone"], args: [OCISpec.SyscallArg(index: 0, value: namespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")],
                 excludes: sysAdmin),
            Rule(["clone3"], "SCMP_ACT_ERRNO", errnoRet: 38, excludes: sysAdmin),
            Rule(["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                  "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                  "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                  "umount2", "unshare"], includes: sysAdmin),
            Rule(["reboot"], includes: Condition(caps: ["CAP_SYS_BOOT"])),
            Rule(["chroot"], includes: Condition(caps: ["CAP_SYS_CHROOT"])),
            Rule(["delete_module", "init_module", "finit_module"], includes: Condition(caps: ["CAP_SYS_MODULE"])),
            Rule(["acct"], includes: Condition(caps: ["CAP_SYS_PACCT"])),
            Rule(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
                 includes: Condition(caps: ["CAP_SYS_PTRACE"])),
            // ptrace is harmless to namespaces from kernel 4.8 on (seccomp is checked after a tracer's changes).
            Rule(["ptrace"], includes: Condition(minKernel: "4.8")),
            Rule(["iopl", "ioperm"], includes: Condition(caps: ["CAP_SYS_RAWIO"])),
            Rule(["settimeofday", "stime", "clock_settime", "clock_settime64"], includes: Condition(caps: ["CAP_SYS_TIME"])),
            Rule(["vhangup"], includes: Condition(caps: ["CAP_SYS_TTY_CONFIG"])),
            Rule(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], includes: Condition(caps: ["CAP_SYS_NICE"])),
            Rule(["syslog"], includes: Condition(caps: ["CAP_SYSLOG"])),
            Rule(["bpf"], includes: Condition(caps: ["CAP_BPF"])),
            Rule(["perf_event_open"], includes: Condition(caps: ["CAP_PERFMON"])),
        ]
        var p = SeccompProfile(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1)
        p.archMap = [
            ArchMap(architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            ArchMap(architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"]),
        ]
        p.syscalls = rules
        return p
    }()

    init(defaultAction: String, defaultErrnoRet: UInt32?) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
    }

    /// Ordinary process, file, memory, network, signal, timer and IPC calls.
    /// Absent on purpose (EPERM): keyctl, add_key, request_key, userfaultfd,
    /// open_by_handle_at, swapon, swapoff, kexec_load, kexec_file_load, io_uring_*,
    /// pivot_root, nfsservctl, uselib, ustat, sysfs, _sysctl, vm86, vm86old,
    /// create_module, get_kernel_syms, query_module, and those gated above.
    static let allowed = """
        accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
        clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
        clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
        dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
        epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
        fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
        fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
        fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
        futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
        geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
        getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
        get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
        getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
        ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
        io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
        lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr
        lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir
        mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
        mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl
        msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
        _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
        pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
        process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
        readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
        rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
        rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
        rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
        sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
        sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
        semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
        sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
        setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
        setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
        setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
        sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
        sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
        timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
        timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
        umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
        waitpid write writev
        """.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x0a }).map { String(decoding: $0, as: UTF8.self) }
}
