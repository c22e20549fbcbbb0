import FoundationEssentials
import MinirtCNI
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// `run --userns auto` (podman's): the container's ids 0-65535 are host ids no
/// other container of this host has, so its root is nobody on the host. The
/// ranges come from the `minirt` entries of /etc/subuid and /etc/subgid (as
/// podman's come from `containers`'), else from 2000000000 on, 65536 at a time.
/// A range is taken by a marker file in a host-wide folder (two state roots
/// never share one) naming the container; a marker whose container is gone is
/// taken over by the next allocation and removed by `system gc`.
public struct UserNamespacePool: Sendable {
    public static let size: UInt32 = 65536
    public static let defaultFolder = "/var/run/minirt-userns"
    static let defaultStart: UInt32 = 2_000_000_000
    static let defaultSlots: UInt32 = 4096

    public let folder: String
    let uidRanges: [(start: UInt32, count: UInt32)]
    let gidRanges: [(start: UInt32, count: UInt32)]

    public init(folder: String = Self.defaultFolder, subuid: String? = nil, subgid: String? = nil) {
        self.folder = folder
        let fallback = [(start: Self.defaultStart, count: Self.size * Self.defaultSlots)]
        let u = Self.ranges(subuid ?? Self.read("/etc/subuid")), g = Self.ranges(subgid ?? Self.read("/etc/subgid"))
        uidRanges = u.isEmpty ? fallback : u
        gidRanges = g.isEmpty ? fallback : g
    }

    static func read(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The `minirt:START:COUNT` lines, with what overflows uid_t or the slot size left out.
    static func ranges(_ text: String) -> [(start: UInt32, count: UInt32)] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count == 3, f[0] == "minirt", let start = UInt32(f[1]), let count = UInt32(f[2]), count >= size,
                  UInt64(start) + UInt64(count) <= UInt64(UInt32.max) else { return nil }
            return (start, count)
        }
    }

    /// The host ids of slot `k` (nil past the pools' end).
    func slot(_ k: UInt32) -> ContainerRecord.UserNamespaceRange? {
        func pick(_ ranges: [(start: UInt32, count: UInt32)]) -> UInt32? {
            var k = k
            for r in ranges {
                let n = r.count / Self.size
                if k < n { return r.start + k * Self.size }
                k -= n
            }
            return nil
        }
        guard let u = pick(uidRanges), let g = pick(gidRanges) else { return nil }
        return .init(uid: u, gid: g, size: Self.size)
    }

    /// Takes the first free range for the container (its record need not exist yet:
    /// a marker younger than a minute counts as taken).
    public func allocate(id: String, stateRoot: String) throws -> ContainerRecord.UserNamespaceRange {
        try StateStore.makeDirectory(folder, mode: 0o700)
        return try StateStore(root: folder).withLock(folder + "/.lock") {
            for k in UInt32(0)... {
                guard let range = slot(k) else {
                    throw RunError.invalid("--userns auto: every id range is taken (\(k) containers hold one): remove some, or give minirt more in /etc/subuid and /etc/subgid")
                }
                let path = "\(folder)/\(range.uid)"
                if let owner = Self.owner(path), owner.isLive { continue }
                unlink(path)
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw RunError.invalid("cannot write \(path): \(String(cString: strerror(errno)))") }
                let line = "\(id) \(stateRoot)\n"
                _ = line.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                return range
            }
            fatalError("unreachable")
        }
    }

    struct Owner {
        var id: String
        var stateRoot: String
        var age: Int
        /// Its container exists, or it is being made.
        var isLive: Bool { age < 60 || access("\(stateRoot)/\(id)/state.json", F_OK) == 0 }
    }

    static func owner(_ path: String) -> Owner? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size < 4096,
              let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        let f = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard f.count == 2, StateStore.isID(f[0]), Validate.isCleanAbsolutePath(f[1]) else { return nil }
        return Owner(id: f[0], stateRoot: f[1], age: time(nil) - st.st_mtim.tv_sec)
    }

    /// Frees the container's range (with its record, in the one release path).
    public func release(id: String, range: ContainerRecord.UserNamespaceRange) {
        let path = "\(folder)/\(range.uid)"
        if Self.owner(path)?.id == id { unlink(path) }
    }

    /// `system gc`: markers whose container is gone.
    func collect() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.first?.isNumber == true }.compactMap { name in
            let path = "\(folder)/\(name)"
            guard let owner = Self.owner(path), !owner.isLive else { return nil }
            unlink(path)
            return "freed the user namespace range \(name) of container \(owner.id.prefix(12))"
        }
    }

    /// The container's root mounts its overlay as itself (an unprivileged id on
    /// the host): every folder above its state folder must let others through.
    static func checkTraversable(_ path: String) throws {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            var st = stat()
            guard stat(prefix, &st) == 0 else { continue }
            if st.st_mode & 0o001 == 0 {
                throw RunError.invalid("--userns auto: \(prefix) is not searchable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): the container's root, an unprivileged host id, mounts its layers through it; chmod o+x it or use another --root")
            }
        }
    }

    // MARK: the image, shifted

    /// A copy of the image's root whose owners are shifted into the range
    /// (`cp -a` keeps modes, links, hard links and devices; chown then restores
    /// the set-id bits it clears). Docker's userns-remap keeps such copies too.
    static func shiftedCopy(of image: String, to destination: String, range: ContainerRecord.UserNamespaceRange) throws {
        let out = try ChildProcess.run("/bin/cp", arguments: ["-a", "--no-target-directory", image, destination],
                                       environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"])
        guard out.status == 0 else {
            throw RunError.invalid("cannot copy the image for --userns auto: \(String(decoding: out.stderr, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? "")")
        }
        let fd = open(destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw RunError.invalid("cannot open \(destination): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try shift(fd, name: nil, range: range, depth: 0)
    }

    /// Shifts the entry `name` of directory `parent` (the directory itself when nil), then its children.
    /// An image is untrusted input (image load): its depth is bounded, as each level holds a descriptor.
    static func shift(_ parent: Int32, name: String?, range: ContainerRecord.UserNamespaceRange, depth: Int) throws {
        guard depth < 256 else { throw RunError.invalid("--userns auto: the image's tree is deeper than 256 levels") }
        var st = stat()
        let target = name ?? ""
        let flags = name == nil ? 0x1000 /* AT_EMPTY_PATH, hidden from Swift */ | AT_SYMLINK_NOFOLLOW : AT_SYMLINK_NOFOLLOW
        guard fstatat(parent, target, &st, flags) == 0 else { throw RunError.invalid("stat \(target): \(String(cString: strerror(errno)))") }
        // Ids beyond the range have no name inside: they become its nobody (65534).
        func inside(_ id: UInt32) -> UInt32 { id < range.size ? id : 65534 }
        guard fchownat(parent, target, range.uid + inside(st.st_uid), range.gid + inside(st.st_gid), flags) == 0 else {
            throw RunError.invalid("chown \(target): \(String(cString: strerror(errno)))")
        }
        let kind = st.st_mode & S_IFMT
        if kind != S_IFLNK && st.st_mode & 0o6000 != 0 {
            _ = fchmodat(parent, name ?? ".", st.st_mode & 0o7777, 0)
        }
        guard kind == S_IFDIR else { return }
        let dir = name.map { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } ?? dup(parent)
        guard dir >= 0, let stream = fdopendir(dir) else { throw RunError.invalid("open \(target): \(String(cString: strerror(errno)))") }
        defer { closedir(stream) }
        var children: [String] = []
        while let e = readdir(stream) {
            let child = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if child != "." && child != ".." { children.append(child) }
        }
        for child in children { try shift(dirfd(stream), name: child, range: range, depth: depth + 1) }
    }
}
