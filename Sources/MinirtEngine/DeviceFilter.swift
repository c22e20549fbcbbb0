import CMinirtShim
#if canImport(Glibc)
import Glibc
#endif

/// Device rules on cgroup v2, where there is no `devices` controller: an eBPF
/// program of type CGROUP_DEVICE, built here instruction by instruction and
/// attached to the container's cgroup. The kernel runs it on every open and
/// mknod of a device node; 1 allows, 0 refuses (EPERM).
public enum DeviceFilter {
    // eBPF opcodes used (see the kernel's Documentation/bpf/instruction-set.rst).
    static let ldxW: UInt8 = 0x61      // dst = *(u32 *)(src + off)
    static let and32K: UInt8 = 0x54    // dst &= imm (32-bit)
    static let rsh32K: UInt8 = 0x74    // dst >>= imm (32-bit)
    static let mov64X: UInt8 = 0xbf    // dst = src
    static let mov64K: UInt8 = 0xb7    // dst = imm
    static let jneK: UInt8 = 0x55      // if dst != imm goto +off
    static let exit: UInt8 = 0x95

    static func insn(_ op: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> UInt64 {
        UInt64(op) | UInt64(dst & 0xf | (src & 0xf) << 4) << 8 | UInt64(UInt16(bitPattern: off)) << 16
            | UInt64(UInt32(bitPattern: imm)) << 32
    }

    /// The program for OCI device rules; later rules win, as in the OCI spec
    /// and the v1 controller, so they are tested from last to first.
    public static func program(_ rules: [OCISpec.DeviceRule]) -> [UInt64] {
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
        // access_type = (access << 16) | type; type 1 block, 2 char; access 1 mknod, 2 read, 4 write.
        var p: [UInt64] = [
            insn(ldxW, dst: 2, src: 1, off: 0), insn(and32K, dst: 2, imm: 0xffff),   // r2 = type
            insn(ldxW, dst: 3, src: 1, off: 0), insn(rsh32K, dst: 3, imm: 16),       // r3 = access
            insn(ldxW, dst: 4, src: 1, off: 4),                                      // r4 = major
            insn(ldxW, dst: 5, src: 1, off: 8),                                      // r5 = minor
        ]
        for rule in rules.reversed() {
            var block: [UInt64] = []
            // Each check jumps past the rest of this rule's block when it fails:
            // offsets are patched once the block's length is known.
            var checks: [Int] = []
            switch rule.type ?? "a" {
            case "c": checks.append(block.count); block.append(insn(jneK, dst: 2, imm: 2))
            case "b": checks.append(block.count); block.append(insn(jneK, dst: 2, imm: 1))
            default: break
            }
            if let m = rule.major, m >= 0 { checks.append(block.count); block.append(insn(jneK, dst: 4, imm: Int32(truncatingIfNeeded: m))) }
            if let m = rule.minor, m >= 0 { checks.append(block.count); block.append(insn(jneK, dst: 5, imm: Int32(truncatingIfNeeded: m))) }
            let access = rule.access ?? "rwm"
            let bits: Int32 = (access.contains("m") ? 1 : 0) | (access.contains("r") ? 2 : 0) | (access.contains("w") ? 4 : 0)
            if bits != 7 {
                // The request must be a subset of the rule's access.
                block.append(insn(mov64X, dst: 6, src: 3))
                block.append(insn(and32K, dst: 6, imm: ~bits & 7))
                checks.append(block.count); block.append(insn(jneK, dst: 6, imm: 0))
            }
            block.append(insn(mov64K, dst: 0, imm: rule.allow ? 1 : 0))
            block.append(insn(exit))
            for i in checks {
                let off = Int16(block.count - i - 1)
                block[i] = block[i] & ~(UInt64(0xffff) << 16) | UInt64(UInt16(bitPattern: off)) << 16
            }
            p += block
            // A rule that matches everything decides alone: nothing before it can
            // be reached (the verifier refuses unreachable code).
            if checks.isEmpty { return p }
        }
        p += [insn(mov64K, dst: 0, imm: 0), insn(exit)] // nothing matched: refuse
        return p
    }

    /// Loads the program and attaches it to the cgroup directory.
    public static func attach(_ rules: [OCISpec.DeviceRule], to directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError.io("open \(directory)", errno) }
        defer { close(fd) }
        let prog = program(rules)
        var log = [CChar](repeating: 0, count: 4096)
        let r = prog.withUnsafeBufferPointer { minirt_attach_device_filter(fd, $0.baseAddress, UInt32($0.count), &log, UInt32(log.count)) }
        guard r == 0 else {
            let e = errno
            let verifier = String(cString: log).split(separator: "\n").first.map { " (verifier: \($0))" } ?? ""
            throw CgroupError.io("attaching the device filter to \(directory)\(verifier)", e)
        }
    }
}
