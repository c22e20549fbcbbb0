#if canImport(Glibc)
import Glibc
#endif

/// An OCI mount turned into the arguments of mount(2).
public struct MountPlan: Equatable, Sendable {
    public var source: String?
    public var target: String
    public var fstype: String?
    public var flags: UInt
    public var propagation: UInt
    public var data: String?
    public var remountReadonly: Bool
    public var isBind: Bool

    /// Splits OCI mount options into MS_* flags, a propagation change and the
    /// filesystem's own data string, the way mount(8) reads `-o`.
    public init(_ m: OCISpec.Mount) {
        var flags: UInt = 0
        var propagation: UInt = 0
        var data: [String] = []
        var readonly = false
        for opt in m.options ?? [] {
            switch opt {
            case "ro": readonly = true
            case "rw": readonly = false
            case "nosuid": flags |= UInt(MS_NOSUID)
            case "suid": flags &= ~UInt(MS_NOSUID)
            case "nodev": flags |= UInt(MS_NODEV)
            case "dev": flags &= ~UInt(MS_NODEV)
            case "noexec": flags |= UInt(MS_NOEXEC)
            case "exec": flags &= ~UInt(MS_NOEXEC)
            case "sync": flags |= UInt(MS_SYNCHRONOUS)
            case "dirsync": flags |= UInt(MS_DIRSYNC)
            case "remount": flags |= UInt(MS_REMOUNT)
            case "mand": flags |= UInt(MS_MANDLOCK)
            case "noatime": flags |= UInt(MS_NOATIME)
            case "nodiratime": flags |= UInt(MS_NODIRATIME)
            case "relatime": flags |= UInt(MS_RELATIME)
            case "strictatime": flags |= UInt(MS_STRICTATIME)
            case "bind": flags |= UInt(MS_BIND)
            case "rbind": flags |= UInt(MS_BIND | MS_REC)
            case "private": propagation = UInt(MS_PRIVATE)
            case "rprivate": propagation = UInt(MS_PRIVATE | MS_REC)
            case "slave": propagation = UInt(MS_SLAVE)
            case "rslave": propagation = UInt(MS_SLAVE | MS_REC)
            case "shared": propagation = UInt(MS_SHARED)
            case "rshared": propagation = UInt(MS_SHARED | MS_REC)
            case "unbindable": propagation = UInt(MS_UNBINDABLE)
            case "runbindable": propagation = UInt(MS_UNBINDABLE | MS_REC)
            default: data.append(opt)
            }
        }
        let isBind = flags & UInt(MS_BIND) != 0 || m.type == "bind"
        if m.type == "bind" { flags |= UInt(MS_BIND) }
        // MS_RDONLY is ignored on a first bind mount; it takes a remount.
        if readonly && !isBind { flags |= UInt(MS_RDONLY) }
        self.source = m.source
        self.target = m.destination
        self.fstype = isBind ? nil : m.type
        self.flags = flags
        self.propagation = propagation
        self.data = data.isEmpty ? nil : data.joined(separator: ",")
        self.remountReadonly = readonly && isBind
        self.isBind = isBind
    }
}
