import FoundationEssentials
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Errors of the state store; each prints as one line that says what to do.
public enum StateError: Error, CustomStringConvertible, Equatable {
    case invalidName(String)
    case nameInUse(name: String, id: String)
    case noSuchContainer(String)
    case ambiguous(String)
    case io(String, path: String, Errno)
    /// state.json is there but cannot be decoded (truncated, garbage).
    case unreadable(id: String, path: String)

    public var description: String {
        switch self {
        case .invalidName(let n):
            return "invalid container name \"\(n)\": only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed (at most 128 characters)"
        case .nameInUse(let n, let id):
            return "the container name \"\(n)\" is already in use by container \(id.prefix(12)): remove it (minirt rm \(n)) or choose another name"
        case .noSuchContainer(let r):
            return "no such container: \(r)"
        case .ambiguous(let r):
            return "multiple containers match the id prefix \"\(r)\": give more characters"
        case .io(let op, let path, let e):
            return "\(op) \(path): \(e)"
        case .unreadable(let id, let path):
            return "the state of container \(id.prefix(12)) is unreadable (\(path)): minirt rm -f \(id.prefix(12)) removes what is left of it"
        }
    }
}

/// One folder per container under `root`, JSON written atomically (temp file +
/// rename), a global flock for name changes and a per-container flock for state
/// changes, so any number of minirt processes can work on one store at once.
///
///     <root>/.lock            global lock (names)
///     <root>/.names/<name>    symlink to the id: a name is taken iff it exists
///     <root>/<id>/state.json  ContainerRecord
///     <root>/<id>/.lock       per-container lock
public struct StateStore: Sendable {
    public let root: String
    public static let defaultRoot = "/var/run/minirt"

    /// Nothing is created until the first container is: reading an empty store
    /// (ls, inspect) works anywhere, even without root.
    public init(root: String) {
        self.root = root
    }

    public func directory(_ id: String) -> String { "\(root)/\(id)" }
    public func statePath(_ id: String) -> String { "\(root)/\(id)/state.json" }

    // MARK: names and ids

    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
        return alnum(first) && name.utf8.allSatisfy { alnum($0) || $0 == 95 || $0 == 46 || $0 == 45 }
    }

    public static func isID(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    public static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        var s = ""
        for _ in 0..<4 {
            let v = g.next() as UInt64
            let h = String(v, radix: 16)
            s += String(repeating: "0", count: 16 - h.count) + h
        }
        return s
    }

    // MARK: create / load / update / remove

    /// Creates the container's folder and state and takes its name, atomically
    /// with respect to every other minirt process.
    public func create(_ record: ContainerRecord) throws {
        guard Self.isValidName(record.name) else { throw StateError.invalidName(record.name) }
        try Self.makeDirectory(root + "/.names")
        try withLock(root + "/.lock") {
            let link = nameLink(record.name)
            if let owner = readLink(link) {
                if exists(statePath(owner)) { throw StateError.nameInUse(name: record.name, id: owner) }
                unlink(link) // left by a crash between removing a folder and its name
            }
            let dir = directory(record.id)
            guard mkdir(dir, 0o700) == 0 else { throw StateError.io("mkdir", path: dir, Errno(rawValue: errno)) }
            do {
                try write(record)
                guard symlink(record.id, link) == 0 else { throw StateError.io("symlink", path: link, Errno(rawValue: errno)) }
            } catch {
                try? FileManager.default.removeItem(atPath: dir)
                throw error
            }
        }
    }

    /// Gives a container a new name, atomically with respect to every other
    /// minirt process: the new name is taken first (failing if in use), then
    /// the record says it, then the old name is freed.
    public func changeName(of id: String, to name: String) throws {
        guard Self.isValidName(name) else { throw StateError.invalidName(name) }
        try withLock(root + "/.lock") {
            let link = nameLink(name)
            if let owner = readLink(link) {
                if exists(statePath(owner)) { throw StateError.nameInUse(name: name, id: owner) }
                unlink(link)
            }
            guard symlink(id, link) == 0 else { throw StateError.io("symlink", path: link, Errno(rawValue: errno)) }
            var old = ""
            do {
                guard try update(id, { old = $0.name; $0.name = name }) != nil else { throw StateError.noSuchContainer(id) }
            } catch {
                unlink(link)
                throw error
            }
            if readLink(nameLink(old)) == id { unlink(nameLink(old)) }
        }
    }

    public func load(_ id: String) throws -> ContainerRecord {
        let path = statePath(id)
        guard let data = FileManager.default.contents(atPath: path) else { throw StateError.noSuchContainer(id) }
        do {
            return try JSONDecoder().decode(ContainerRecord.self, from: data)
        } catch {
            throw StateError.unreadable(id: id, path: path)
        }
    }

    /// Read-modify-write under the container's lock. Returns nil when the
    /// container was removed meanwhile (its folder is gone): nothing is written then.
    @discardableResult
    public func update(_ id: String, _ change: (inout ContainerRecord) throws -> Void) throws -> ContainerRecord? {
        let lock = directory(id) + "/.lock"
        guard exists(directory(id)) else { return nil }
        return try withLock(lock, missingIsGone: true) {
            guard exists(statePath(id)) else { return nil }
            var r = try load(id)
            try change(&r)
            try write(r)
            return r
        }
    }

    /// Replaces the state of a container this process owns (its runner), without
    /// reading it first; nothing is written when the container was removed meanwhile.
    ///
    /// `stoppedByUser` is sticky here: `stop`, `kill` and `rm` set it through
    /// `update` while a runner, `__start` or `__exited` may be saving a record it
    /// read earlier; that older copy must not bring a stopped container back.
    /// Only `start` clears it, through `update`.
    @discardableResult
    public func save(_ record: ContainerRecord) throws -> Bool {
        try withLock(directory(record.id) + "/.lock", missingIsGone: true) { () -> Bool? in
            guard exists(statePath(record.id)) else { return nil }
            var r = record
            if !r.state.stoppedByUser, record.state.detached, (try? load(record.id))?.state.stoppedByUser == true {
                r.state.stoppedByUser = true
            }
            // Likewise the name: `rename` may have changed it since the caller read its copy
            // (one readlink tells: the old name no longer points here).
            if readLink(nameLink(record.name)) != record.id, let name = (try? load(record.id))?.name { r.name = name }
            try write(r)
            return true
        } ?? false
    }

    /// Writes state.json by temp file + rename: readers see the old or the new file, never half.
    public func write(_ record: ContainerRecord) throws {
        // Unsorted: sorting keys costs more than the rest of the encoding.
        let data = try JSONEncoder().encode(record)
        try Self.writeAtomically(data, to: statePath(record.id))
    }

    /// Removes the folder and frees the name. The folder is first renamed out of
    /// the store, so concurrent readers see the container either whole or gone.
    public func remove(_ id: String, name knownName: String? = nil) throws {
        let dir = directory(id)
        let trash = "\(root)/.trash-\(id)-\(getpid())"
        var name = knownName
        // Already removed by someone else (a --rm runner racing rm -f): nothing to do.
        guard exists(dir) else { return }
        try withLock(dir + "/.lock", missingIsGone: true) {
            if name == nil { name = (try? load(id))?.name }
            guard rename(dir, trash) == 0 else {
                if errno == ENOENT { return }
                throw StateError.io("rename", path: dir, Errno(rawValue: errno))
            }
        }
        if let name {
            try withLock(root + "/.lock") {
                let link = nameLink(name)
                if readLink(link) == id { unlink(link) }
            }
        }
        try? FileManager.default.removeItem(atPath: trash)
        if exists(trash) { throw StateError.io("remove", path: trash, .directoryNotEmpty) }
    }

    /// Ids of every container folder (creation order is not implied).
    public func ids() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter(Self.isID)
    }

    /// All containers that can be read; folders half-written or half-removed are skipped.
    public func all() -> [ContainerRecord] {
        ids().compactMap { try? load($0) }.sorted { $0.created > $1.created }
    }

    /// Ids of folders whose state.json is missing or cannot be decoded: `ls -a`
    /// shows them as broken, `rm -f` removes them (a folder being created has
    /// its state.json within the same lock, so it is never listed here).
    public func broken() -> [String] {
        ids().filter { id in
            guard (try? load(id)) == nil else { return false }
            // Re-check under the lock: a create or remove may be under way.
            return (try? withLock(root + "/.lock") { access(directory(id), F_OK) == 0 && (try? load(id)) == nil }) == true
        }
    }

    /// Frees every name that points at id (its record may be unreadable).
    public func freeNames(of id: String) {
        _ = try? withLock(root + "/.lock") {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/.names")) ?? [] where readLink(nameLink(name)) == id {
                unlink(nameLink(name))
            }
        }
    }

    /// Resolves a name, a full id or a unique id prefix to an id.
    public func resolve(_ ref: String) throws -> String {
        if Self.isValidName(ref), let id = readLink(nameLink(ref)), exists(statePath(id)) { return id }
        let lower = ref.lowercased()
        guard !lower.isEmpty, lower.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw StateError.noSuchContainer(ref)
        }
        let matches = ids().filter { $0.hasPrefix(lower) && exists(statePath($0)) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw StateError.noSuchContainer(ref) }
        throw StateError.ambiguous(ref)
    }

    // MARK: helpers

    private func nameLink(_ name: String) -> String { "\(root)/.names/\(name)" }

    private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    private func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Held by whoever starts the container (a foreground run, `__start`) from
    /// its first host change until its state says running, and taken by `rm`
    /// before it decides: a removal never races a start into a half-recorded
    /// attachment. Nil when the container is gone.
    public func withStartLock<T>(_ id: String, _ body: () throws -> T) throws -> T? {
        try withLock(directory(id) + "/.start.lock", missingIsGone: true, body)
    }

    /// The start lock taken for as long as the descriptor stays open (-1 when the
    /// container is gone): for a start whose end is not one lexical scope.
    public func startLockDescriptor(_ id: String) -> Int32 {
        let fd = open(directory(id) + "/.start.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { while flock(fd, LOCK_EX) != 0 && errno == EINTR {} }
        return fd
    }

    /// Runs body holding an exclusive flock on path (created if missing).
    public func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        try withLock(path, missingIsGone: false, body)!
    }

    /// With missingIsGone, a lock whose folder has vanished (the container was
    /// removed meanwhile) returns nil instead of failing.
    func withLock<T>(_ path: String, missingIsGone: Bool, _ body: () throws -> T?) throws -> T? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 && errno == ENOENT && missingIsGone { return nil }
        guard fd >= 0 else { throw StateError.io("open", path: path, Errno(rawValue: errno)) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StateError.io("flock", path: path, Errno(rawValue: errno)) }
        }
        return try body()
    }

    /// mkdir -p that tolerates other processes creating the same folders at the
    /// same moment (many `minirt run` start on a fresh machine at once). The
    /// folder itself is tried first, its parents only when one is missing: the
    /// usual case, a folder in an existing root, is one syscall.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw StateError.io("mkdir", path: path, Errno(rawValue: errno)) }
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw StateError.io("mkdir", path: prefix, Errno(rawValue: errno))
            }
        }
    }

    public static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = "\(path).tmp-\(getpid())"
        do {
            let fd = try FileDescriptor.open(FilePath(tmp), .writeOnly, options: [.create, .truncate],
                                             permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try fd.closeAfter { _ = try fd.writeAll(data) }
        } catch let e as Errno {
            throw StateError.io("write", path: tmp, e)
        }
        guard rename(tmp, path) == 0 else {
            let e = Errno(rawValue: errno)
            unlink(tmp)
            throw StateError.io("rename", path: path, e)
        }
    }
}
