import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// minirt's binary as a process that enters a container sees it (the
/// CVE-2019-5736 class): a process in the container can open `/proc/PID/exe` of
/// anything that joins its PID namespace, or be handed minirt itself through a
/// `#!/proc/self/exe` script, and reopen it for writing. So the verbs that put
/// a process into a container first re-execute minirt from a read-only clone
/// of its binary (a detached bind mount, never attached anywhere, so nothing can
/// remount it) or, where the kernel lacks the new mount API, from a sealed memfd
/// copy; the clone child is also non-dumpable until its execve (see shim.c).
public enum SealedExecutable {
    /// Set in the environment of the re-executed minirt: the installed path.
    static let marker = "_MINIRT_SEALED_FROM"

    /// The path minirt was installed at (for finding the supervisor beside it);
    /// /proc/self/exe of a sealed process names the clone, not the install.
    nonisolated(unsafe) public private(set) static var installedPath = ""

    /// Re-executes this process from a protected copy of its binary unless it
    /// already runs from one; returns only when it does (or throws why it cannot).
    public static func ensure() throws {
        if let from = getenv(marker) {
            installedPath = String(cString: from)
            unsetenv(marker)
            return
        }
        let exe = try Self.readExeLink()
        installedPath = exe
        // Already running through a read-only mount (a read-only /usr, or the
        // binary bind-mounted read-only over itself: see README): a reopen for
        // writing through /proc/PID/exe fails with EROFS as from the clone.
        var fs = statvfs()
        if statvfs("/proc/self/exe", &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0 { return }
        var fd = minirt_readonly_clone("/proc/self/exe")
        if fd < 0 { fd = minirt_sealed_copy("/proc/self/exe") }
        guard fd >= 0 else {
            throw EngineError.system("cannot protect minirt's binary before entering a container (read-only clone and sealed copy of \(exe) both failed)", Errno(rawValue: errno))
        }
        setenv(marker, exe, 1)
        let argv = CommandLine.unsafeArgv
        _ = minirt_execveat(fd, argv, minirt_environ())
        let e = Errno(rawValue: errno)
        unsetenv(marker)
        close(fd)
        throw EngineError.system("re-executing minirt from its read-only clone", e)
    }

    /// The running binary's own path, unless it is a sealed clone (then the installed one).
    public static func currentPath() throws -> String {
        installedPath.isEmpty ? try readExeLink() : installedPath
    }

    static func readExeLink() throws -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { throw EngineError.system("readlink /proc/self/exe", Errno(rawValue: errno)) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
