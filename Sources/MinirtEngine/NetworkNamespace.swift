import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Network namespaces pinned by a bind mount, where `ip netns` finds them, so a
/// namespace outlives its processes until CNI DEL has run (nerdctl#1872).
public enum NetworkNamespace {
    public static let directory = "/var/run/netns"

    public static func pinPath(for id: String) -> String { "\(directory)/minirt-\(id.prefix(12))" }

    /// Creates a new network namespace and pins it at path. Only the calling
    /// thread enters it, and only between unshare and the bind mount.
    public static func create(at path: String) throws {
        _ = mkdir(directory, 0o755)
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw EngineError.system("create \(path)", Errno(rawValue: errno)) }
        close(fd)
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else {
            unlink(path)
            throw EngineError.system("open /proc/thread-self/ns/net", Errno(rawValue: errno))
        }
        defer { close(original) }
        guard minirt_unshare(Int32(MINIRT_CLONE_NEWNET)) == 0 else {
            let e = Errno(rawValue: errno)
            unlink(path)
            throw EngineError.system("unshare(CLONE_NEWNET)", e)
        }
        let mounted = mount("/proc/thread-self/ns/net", path, "none", UInt(MS_BIND), nil) == 0
        let mountErr = Errno(rawValue: errno)
        // Back to the host's namespace whatever happened.
        if minirt_setns(original, Int32(MINIRT_CLONE_NEWNET)) != 0 {
            fatalError("cannot return to the host network namespace: \(Errno(rawValue: errno))")
        }
        guard mounted else {
            unlink(path)
            throw EngineError.system("bind-mount network namespace on \(path)", mountErr)
        }
    }

    /// Pins an existing namespace (a running container's, by its init's
    /// /proc/PID/ns/net) at path, as `create` pins a new one.
    public static func pin(_ source: String, at path: String) throws {
        _ = mkdir(directory, 0o755)
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw EngineError.system("create \(path)", Errno(rawValue: errno)) }
        close(fd)
        guard mount(source, path, "none", UInt(MS_BIND), nil) == 0 else {
            let e = Errno(rawValue: errno)
            unlink(path)
            throw EngineError.system("bind-mount \(source) on \(path)", e)
        }
    }

    /// Unpins (the namespace dies with its last user) and removes the file; absent is fine.
    public static func remove(at path: String) {
        if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            _ = umount2(path, Int32(MNT_DETACH))
        }
        unlink(path)
    }

    public static func isPinned(_ path: String) -> Bool {
        var st = stat(), parent = stat()
        guard stat(path, &st) == 0, stat(directory, &parent) == 0 else { return false }
        return st.st_dev != parent.st_dev // an nsfs inode, not the empty file
    }
}
