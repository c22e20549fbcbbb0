import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Files read from a container's root (an image's rootfs, or /proc/PID/root of
/// a running container) are opened with openat2(RESOLVE_IN_ROOT): an absolute
/// or `../..` symlink planted there (`/etc/passwd -> /etc/shadow`) resolves
/// inside that root, never onto the host.
public enum InRoot {
    /// The file's bytes, nil when it does not exist inside `root`; at most `limit` bytes.
    public static func read(_ path: String, root: String, limit: Int = 4 << 20) throws -> [UInt8]? {
        let rootFD = open(root, Int32(MINIRT_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw EngineError.system("open \(root)", Errno(rawValue: errno)) }
        defer { close(rootFD) }
        let fd = minirt_open_in_root(rootFD, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw EngineError.system("open \(path) inside \(root)", Errno(rawValue: errno))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw EngineError.system("\(path) inside \(root) is not a regular file", .invalidArgument)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw EngineError.system("read \(path) inside \(root)", Errno(rawValue: errno)) }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
            guard bytes.count <= limit else {
                throw EngineError.system("\(path) inside \(root) is larger than \(limit) bytes", .fileTooLarge)
            }
        }
    }

    /// Whether something (any kind, a dangling symlink too) is at path inside root.
    public static func exists(_ path: String, root: String) -> Bool {
        let rootFD = open(root, Int32(MINIRT_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return false }
        defer { close(rootFD) }
        let fd = minirt_open_in_root(rootFD, path, Int32(MINIRT_O_PATH) | O_NOFOLLOW, 0)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A descriptor of path inside the root open at rootFD (openat2
    /// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), or -1 with errno set.
    public static func openAt(_ path: String, inRootFD rootFD: Int32, flags: Int32, mode: mode_t = 0) -> Int32 {
        minirt_open_in_root(rootFD, path, flags | O_CLOEXEC, Int32(mode))
    }

    /// O_PATH, which Swift's Glibc hides.
    public static let pathOnly = Int32(MINIRT_O_PATH)
}
