import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's `cp`, both directions, for a running container. Every path inside
/// the container is resolved in its root (openat2 RESOLVE_IN_ROOT on
/// /proc/PID/root) and everything below it is reached relative to a verified
/// directory with O_NOFOLLOW: a symlink the container planted can never lead
/// a copy onto the host, in either direction.
extension Containers {
    public struct CopyOptions: Sendable {
        /// -a: keep owners (uid/gid) as they are.
        public var archive = false
        /// -L: follow a symlink given as the source.
        public var followLink = false
        public init() {}
    }

    /// `cp CONTAINER:SRC HOSTDEST`.
    public func copyOut(_ ref: String, from source: String, to destination: String, _ o: CopyOptions = CopyOptions()) throws {
        let root = try containerRoot(ref)
        defer { close(root) }
        let flags = InRoot.pathOnly | (o.followLink ? 0 : O_NOFOLLOW)
        let src = InRoot.openAt(source, inRootFD: root, flags: flags)
        guard src >= 0 else { throw CopyError("could not find the file \(source) in the container: \(String(cString: strerror(errno)))") }
        defer { close(src) }
        var st = stat()
        guard fstat(src, &st) == 0 else { throw CopyError("\(source): \(String(cString: strerror(errno)))") }
        // docker's rule: into an existing directory under the source's name, else as the destination.
        var dst = stat()
        let name = Self.baseName(source)
        let target = stat(destination, &dst) == 0 && (dst.st_mode & S_IFMT) == S_IFDIR && !name.isEmpty
            ? destination + "/" + name : destination
        let parent = PathText.parent(target)
        let dirFD = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw CopyError("the destination folder \(parent) does not exist: create it first") }
        defer { close(dirFD) }
        try Self.copy(from: src, stat: st, into: dirFD, name: PathText.lastComponent(target), o)
    }

    /// `cp HOSTSRC CONTAINER:DEST`.
    public func copyIn(_ ref: String, from source: String, to destination: String, _ o: CopyOptions = CopyOptions()) throws {
        let root = try containerRoot(ref)
        defer { close(root) }
        let src = open(source, InRoot.pathOnly | (o.followLink ? 0 : O_NOFOLLOW) | O_CLOEXEC)
        guard src >= 0 else { throw CopyError("could not find the file \(source): \(String(cString: strerror(errno)))") }
        defer { close(src) }
        var st = stat()
        guard fstat(src, &st) == 0 else { throw CopyError("\(source): \(String(cString: strerror(errno)))") }
        // Into DEST when it is a directory (followed inside the root), else DEST's parent under DEST's name.
        let existing = InRoot.openAt(destination, inRootFD: root, flags: O_RDONLY | O_DIRECTORY)
        let dirFD: Int32, name: String
        if existing >= 0 {
            dirFD = existing
            name = Self.baseName(source)
        } else {
            let parent = PathText.parent(destination)
            dirFD = InRoot.openAt(parent.isEmpty ? "/" : parent, inRootFD: root, flags: O_RDONLY | O_DIRECTORY)
            guard dirFD >= 0 else { throw CopyError("the folder \(parent) does not exist in the container: create it first") }
            name = PathText.lastComponent(destination)
        }
        defer { close(dirFD) }
        guard !name.isEmpty, name != ".", name != ".." else { throw CopyError("\(destination): give a file name") }
        try Self.copy(from: src, stat: st, into: dirFD, name: name, o)
    }

    /// `cp CONTAINER:SRC -`: SRC as a tar stream on `output`. The copy out is
    /// the in-root one above, into a private folder of the host, which GNU tar
    /// then archives: tar never walks the container's tree itself.
    public func copyOutArchive(_ ref: String, from source: String, to output: Int32, _ o: CopyOptions = CopyOptions()) throws {
        try withScratch { scratch in
            var options = o
            options.archive = true // the stream keeps owners, as docker's does
            try copyOut(ref, from: source, to: scratch, options)
            let name = Self.baseName(source).isEmpty ? "." : Self.baseName(source)
            let out = try ChildProcess.run("/bin/tar", arguments: ["-c", "-f", "-", "--numeric-owner", "-C", scratch, name],
                                           environment: [], stdoutFD: output)
            guard out.status == 0 else { throw CopyError("tar: \(String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").first ?? "status \(out.status)")") }
        }
    }

    /// `cp - CONTAINER:DEST`: a tar stream from `input` unpacked into DEST (a
    /// directory). GNU tar unpacks it into a private folder of the host first
    /// (it refuses members with .. and holds back links that lead out until the
    /// end, so nothing lands outside that folder); each entry is then copied in
    /// with the in-root copy, which never follows what the container planted.
    public func copyInArchive(_ ref: String, from input: Int32, to destination: String, _ o: CopyOptions = CopyOptions()) throws {
        let root = try containerRoot(ref)
        let dest = InRoot.openAt(destination, inRootFD: root, flags: O_RDONLY | O_DIRECTORY)
        close(root)
        guard dest >= 0 else { throw CopyError("the destination \(destination) must be an existing directory in the container") }
        close(dest)
        try withScratch { scratch in
            let out = try ChildProcess.run("/bin/tar", arguments: ["-x", "-f", "-", "--no-same-owner", "--no-overwrite-dir", "-C", scratch],
                                           environment: [], stdinFD: input)
            guard out.status == 0 else { throw CopyError("the archive could not be unpacked: \(String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").first ?? "tar status \(out.status)")") }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []).sorted() {
                try copyIn(ref, from: scratch + "/" + name, to: destination, o)
            }
        }
    }

    func withScratch(_ body: (String) throws -> Void) throws { try Scratch.folder("cp", body) }

    /// /proc/PID/root of a running container, as an O_PATH descriptor.
    func containerRoot(_ ref: String) throws -> Int32 {
        let r = refreshed(try get(ref))
        guard r.state.status == .running, r.state.pid > 0 else {
            throw CopyError("\(r.name) is not running: cp reaches a container's files through its running root (minirt export copies a stopped one's)")
        }
        let fd = open("/proc/\(r.state.pid)/root", InRoot.pathOnly | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CopyError("\(r.name): its root cannot be opened: \(String(cString: strerror(errno)))") }
        return fd
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }

    /// Copies the thing open at src (O_PATH; its stat given) to `name` in the
    /// directory open at dirFD: directories recursively, files by content,
    /// symlinks as symlinks; an existing non-directory there is replaced (never
    /// followed). Device nodes, sockets and FIFOs are skipped, as docker's
    /// archive code does for untrusted content it cannot represent safely.
    static func copy(from src: Int32, stat st: stat, into dirFD: Int32, name: String, _ o: CopyOptions) throws {
        let kind = st.st_mode & S_IFMT
        func keepOwner(_ fd: Int32, _ path: String) {
            if o.archive { _ = fchownat(fd, path, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW | (path.isEmpty ? 0x1000 /* AT_EMPTY_PATH, hidden from Swift */ : 0)) }
        }
        switch kind {
        case S_IFDIR:
            if mkdirat(dirFD, name, st.st_mode & 0o7777) != 0 && errno != EEXIST { throw CopyError("mkdir \(name): \(String(cString: strerror(errno)))") }
            var dst = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if dst < 0 && errno == ENOTDIR || dst < 0 && errno == ELOOP {
                // A file or a symlink has the name: replaced by the directory.
                unlinkat(dirFD, name, 0)
                guard mkdirat(dirFD, name, st.st_mode & 0o7777) == 0 else { throw CopyError("mkdir \(name): \(String(cString: strerror(errno)))") }
                dst = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard dst >= 0 else { throw CopyError("\(name): \(String(cString: strerror(errno)))") }
            defer { close(dst) }
            keepOwner(dst, "")
            // The source directory, readable, reopened from its O_PATH descriptor.
            let list = openat(src, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard list >= 0, let dir = fdopendir(list) else { throw CopyError("\(name): \(String(cString: strerror(errno)))") }
            defer { closedir(dir) }
            for n in entryNames(dir) {
                let child = openat(dirfd(dir), n, InRoot.pathOnly | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { continue }
                defer { close(child) }
                var cst = stat()
                guard fstat(child, &cst) == 0 else { continue }
                try copy(from: child, stat: cst, into: dst, name: n, o)
            }
        case S_IFREG:
            // The same inode, reopened for reading from its O_PATH descriptor (no path is resolved again).
            let readFD = open("/proc/self/fd/\(src)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard readFD >= 0 else { throw CopyError("\(name): \(String(cString: strerror(errno)))") }
            defer { close(readFD) }
            var out = openat(dirFD, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0o7777)
            if out < 0 && (errno == ELOOP || errno == EISDIR) {
                // A symlink (or a directory) has the name: the copy replaces it, never follows it.
                if unlinkat(dirFD, name, 0) != 0 { _ = unlinkat(dirFD, name, AT_REMOVEDIR) }
                out = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0o7777)
            }
            guard out >= 0 else { throw CopyError("\(name): \(String(cString: strerror(errno)))") }
            defer { close(out) }
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = Glibc.read(readFD, &buf, buf.count)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw CopyError("read \(name): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                var done = 0
                while done < n {
                    let w = buf[done..<n].withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
                    guard w > 0 else { throw CopyError("write \(name): \(String(cString: strerror(errno)))") }
                    done += w
                }
            }
            _ = fchmod(out, st.st_mode & 0o7777)
            keepOwner(out, "")
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlinkat(src, "", &target, Int(PATH_MAX))
            guard n >= 0 else { throw CopyError("readlink \(name): \(String(cString: strerror(errno)))") }
            target[n] = 0
            if symlinkat(target, dirFD, name) != 0 {
                guard errno == EEXIST else { throw CopyError("symlink \(name): \(String(cString: strerror(errno)))") }
                if unlinkat(dirFD, name, 0) != 0 { _ = unlinkat(dirFD, name, AT_REMOVEDIR) }
                guard symlinkat(target, dirFD, name) == 0 else { throw CopyError("symlink \(name): \(String(cString: strerror(errno)))") }
            }
            keepOwner(dirFD, name)
        default:
            break // device nodes, sockets, FIFOs: not copied
        }
    }
}

/// A folder of the host only root can enter (mkdtemp's 0700), for content on
/// its way in or out (cp's tar streams, image save and load), removed
/// afterwards whatever happens. It is made under $TMPDIR when that names an
/// absolute folder (as docker's client and tar honour it), else /tmp.
enum Scratch {
    static func folder<T>(_ purpose: String, _ body: (String) throws -> T) throws -> T {
        let base = parent
        var template = Array("\(base)/minirt-\(purpose)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RunError.invalid("cannot make a scratch folder in \(base): \(String(cString: strerror(errno))); set TMPDIR to a writable folder") }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try body(scratch)
    }

    static var parent: String {
        guard let dir = ProcessInfo.processInfo.environment["TMPDIR"], dir.hasPrefix("/"), !dir.contains(where: { $0.isNewline || $0 == "\0" }) else { return "/tmp" }
        var st = stat()
        guard stat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return "/tmp" }
        return dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
    }
}

public struct CopyError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
