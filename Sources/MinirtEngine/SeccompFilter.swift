import CSeccomp
import CMinirtShim
#if canImport(Glibc)
import Glibc
#endif

/// Compiles an OCI seccomp profile to a classic BPF program with libseccomp.
/// The program is built here, in the parent; the child only hands it to the
/// kernel right before execve (it must not call into libseccomp, which allocates).
public enum SeccompFilter {
    // libseccomp's SCMP_ACT_* values (function-like macros Swift cannot import).
    static let actKillProcess: UInt32 = 0x8000_0000
    static let actKillThread: UInt32 = 0x0000_0000
    static let actTrap: UInt32 = 0x0003_0000
    static let actLog: UInt32 = 0x7ffc_0000
    static let actAllow: UInt32 = 0x7fff_0000
    static func actErrno(_ e: UInt32) -> UInt32 { 0x0005_0000 | (e & 0xffff) }
    static func actTrace(_ e: UInt32) -> UInt32 { 0x7ff0_0000 | (e & 0xffff) }
    static let actNotify: UInt32 = 0x7fc0_0000

    /// Whether the profile hands syscalls to an agent (SCMP_ACT_NOTIFY).
    public static func notifies(_ profile: OCISpec.Seccomp) -> Bool {
        profile.defaultAction == "SCMP_ACT_NOTIFY" || (profile.syscalls ?? []).contains { $0.action == "SCMP_ACT_NOTIFY" }
    }

    /// linux.seccomp.flags as SECCOMP_FILTER_FLAG_* bits (the ones runc accepts).
    public static func flags(_ names: [String]) throws -> UInt32 {
        try names.reduce(0) { bits, name in
            switch name {
            case "SECCOMP_FILTER_FLAG_TSYNC": return bits | 1
            case "SECCOMP_FILTER_FLAG_LOG": return bits | 2
            case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": return bits | 4
            default:
                throw SeccompError.invalid("unknown flag \"\(name)\": use SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG or SECCOMP_FILTER_FLAG_SPEC_ALLOW")
            }
        }
    }

    /// The action's libseccomp value; `errno` is the rule's errnoRet or the default EPERM.
    public static func action(_ name: String, errno ret: UInt32?) throws -> UInt32 {
        switch name {
        case "SCMP_ACT_ALLOW": return actAllow
        case "SCMP_ACT_ERRNO": return actErrno(ret ?? UInt32(EPERM))
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return actKillThread
        case "SCMP_ACT_KILL_PROCESS": return actKillProcess
        case "SCMP_ACT_TRAP": return actTrap
        case "SCMP_ACT_TRACE": return actTrace(ret ?? UInt32(EPERM))
        case "SCMP_ACT_LOG": return actLog
        case "SCMP_ACT_NOTIFY": return actNotify
        default:
            throw SeccompError.invalid("unknown action \"\(name)\": use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG or SCMP_ACT_NOTIFY")
        }
    }

    static func compare(_ op: String) throws -> scmp_compare {
        switch op {
        case "SCMP_CMP_NE": return SCMP_CMP_NE
        case "SCMP_CMP_LT": return SCMP_CMP_LT
        case "SCMP_CMP_LE": return SCMP_CMP_LE
        case "SCMP_CMP_EQ": return SCMP_CMP_EQ
        case "SCMP_CMP_GE": return SCMP_CMP_GE
        case "SCMP_CMP_GT": return SCMP_CMP_GT
        case "SCMP_CMP_MASKED_EQ": return SCMP_CMP_MASKED_EQ
        default: throw SeccompError.invalid("unknown operator \"\(op)\": use SCMP_CMP_EQ, NE, LT, LE, GT, GE or MASKED_EQ")
        }
    }

    /// libseccomp's name for an OCI architecture ("SCMP_ARCH_X86_64" -> "x86_64").
    static func architecture(_ name: String) throws -> UInt32 {
        let short = name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst(10)).lowercased() : name.lowercased()
        let token = seccomp_arch_resolve_name(short)
        guard token != 0 else { throw SeccompError.invalid("unknown architecture \"\(name)\"") }
        return token
    }

    /// The BPF program (struct sock_filter entries, 8 bytes each) for the profile.
    public static func compile(_ profile: OCISpec.Seccomp) throws -> [UInt64] {
        let defaultAction = try action(profile.defaultAction, errno: profile.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAction) else { throw SeccompError.invalid("libseccomp rejected the default action") }
        defer { seccomp_release(ctx) }
        // Only what the profile asks for: a filter that does not match the
        // architecture of a syscall kills the process.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        // A binary tree over syscall numbers: fewer instructions run per syscall,
        // and the kernel evaluates the filter for every syscall number when it loads it.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        let native = seccomp_arch_native()
        for arch in profile.architectures ?? [] {
            let token = try architecture(arch)
            if token == native { continue }
            let r = seccomp_arch_add(ctx, token)
            if r != 0 && r != -EEXIST { throw SeccompError.invalid("architecture \(arch): \(String(cString: strerror(-r)))") }
        }
        for (i, rule) in (profile.syscalls ?? []).enumerated() {
            let act = try action(rule.action, errno: rule.errnoRet)
            let args = try (rule.args ?? []).map { a -> scmp_arg_cmp in
                guard a.index < 6 else { throw SeccompError.invalid("syscalls[\(i)]: argument index \(a.index) is out of range 0-5") }
                let op = try compare(a.op)
                // MASKED_EQ compares (arg & value) == valueTwo.
                return scmp_arg_cmp(arg: a.index, op: op, datum_a: a.value, datum_b: a.valueTwo ?? 0)
            }
            if act == defaultAction { continue } // libseccomp refuses rules equal to the default
            for name in rule.names {
                let nr = seccomp_syscall_resolve_name(name)
                // Unknown on this architecture (e.g. 32-bit-only calls): nothing to filter.
                if nr == __NR_SCMP_ERROR { continue }
                // Conditions on one argument are alternatives: one rule each (as runc does).
                let indexes = args.map(\.arg)
                let groups: [[scmp_arg_cmp]] = Set(indexes).count == indexes.count ? [args] : args.map { [$0] }
                for group in groups {
                    var g = group
                    let r = g.withUnsafeMutableBufferPointer {
                        seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress)
                    }
                    if r != 0 && r != -EACCES {
                        throw SeccompError.invalid("syscalls[\(i)] \(name): \(String(cString: strerror(-r)))")
                    }
                }
            }
        }
        // libseccomp writes the program to a descriptor; a pipe holds it (at most 32 KiB).
        var fds: [Int32] = [-1, -1]
        guard minirt_pipe_cloexec(&fds) == 0 else { throw SeccompError.invalid("pipe: \(String(cString: strerror(errno)))") }
        defer { close(fds[0]) }
        let r = seccomp_export_bpf(ctx, fds[1])
        close(fds[1])
        guard r == 0 else { throw SeccompError.invalid("exporting the filter: \(String(cString: strerror(-r)))") }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        return stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { o in
            bytes[o..<o + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        }
    }
}

extension SeccompFilter {
    /// A stable name for a profile (FNV-1a over its contents and libseccomp's
    /// version, whose syscall tables shape the program).
    public static func fingerprint(_ p: OCISpec.Seccomp) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3
        }
        // The first item names how minirt builds programs (bump it when that changes).
        mix("minirt-bpf-2 tree")
        if let v = seccomp_version() { mix("\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)") }
        mix(p.defaultAction)
        mix("\(p.defaultErrnoRet ?? 0)")
        (p.architectures ?? []).forEach(mix)
        (p.flags ?? []).forEach(mix)
        for r in p.syscalls ?? [] {
            mix("rule")
            r.names.forEach(mix)
            mix(r.action)
            mix("\(r.errnoRet.map(String.init) ?? "-")")
            for a in r.args ?? [] { mix("\(a.index) \(a.value) \(a.valueTwo.map(String.init) ?? "-") \(a.op)") }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func readProgram(_ path: String) -> [UInt64]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0, st.st_size % 8 == 0, st.st_size <= 65536 else { return nil }
        var program = [UInt64](repeating: 0, count: Int(st.st_size) / 8)
        let n = program.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n == Int(st.st_size) ? program : nil
    }

    /// Written whole under a temporary name, then renamed: readers never see half a program.
    static func writeProgram(_ program: [UInt64], to path: String) {
        let tmp = "\(path).\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let n = program.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if n == program.count * 8 { rename(tmp, path) } else { unlink(tmp) }
    }
}

public enum SeccompError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): return "seccomp profile: \(m)" }
    }
}
