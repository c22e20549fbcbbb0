import FoundationEssentials
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's named volumes (driver "local"): `<root>/NAME/_data`, kept until
/// `volume rm`. A volume is created on first use by `-v NAME:/path` and filled
/// then from the image's content at that path, as docker does.
public struct VolumeStore: Sendable {
    public let root: String
    public static let defaultRoot = "/var/lib/minirt/volumes"
    public init(root: String) { self.root = root }

    /// MINIRT_VOLUMES, else /var/lib/minirt/volumes.
    public static var fromEnvironment: VolumeStore {
        VolumeStore(root: ProcessInfo.processInfo.environment["MINIRT_VOLUMES"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultRoot)
    }

    /// docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
    public static func isValidName(_ n: String) -> Bool {
        guard let first = n.unicodeScalars.first, n.utf8.count <= 255 else { return false }
        let alnum = { (c: Unicode.Scalar) in (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") }
        return alnum(first) && n.unicodeScalars.allSatisfy { alnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    public func data(_ name: String) -> String { "\(root)/\(name)/_data" }

    public func exists(_ name: String) -> Bool { access(data(name), F_OK) == 0 }

    /// Marks a volume made for one container (docker's com.docker.volume.anonymous label).
    func anonymousMarker(_ name: String) -> String { "\(root)/\(name)/anonymous" }

    public func isAnonymous(_ name: String) -> Bool { access(anonymousMarker(name), F_OK) == 0 }

    /// Creates the volume (a random 64-hex name when none is given); an existing one is fine, as in docker.
    @discardableResult
    public func create(_ name: String? = nil, anonymous: Bool = false) throws -> (name: String, created: Bool) {
        let n = name ?? StateStore.newID()
        guard Self.isValidName(n) else {
            throw RunError.invalid("invalid volume name \"\(n)\": use letters, digits, _ . - (starting with a letter or digit)")
        }
        if exists(n) { return (n, false) }
        try StateStore.makeDirectory(root, mode: 0o701)
        try StateStore.makeDirectory("\(root)/\(n)", mode: 0o701)
        if anonymous { close(open(anonymousMarker(n), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)) }
        if mkdir(data(n), 0o755) != 0 && errno != EEXIST {
            throw RunError.invalid("cannot create volume \(n): \(String(cString: strerror(errno)))")
        }
        return (n, true)
    }

    public func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { exists($0) }.sorted()
    }

    public struct View: Encodable {
        var CreatedAt: String
        var Driver = "local"
        var Labels: [String: String] = [:]
        var Mountpoint: String
        var Name: String
        var Options: [String: String] = [:]
        var Scope = "local"
    }

    public func view(_ name: String) throws -> View {
        guard exists(name) else { throw RunError.invalid("get \(name): no such volume") }
        var st = stat()
        stat("\(root)/\(name)", &st)
        let created = Timestamp(nanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)).rfc3339
        return View(CreatedAt: created, Labels: isAnonymous(name) ? ["com.docker.volume.anonymous": ""] : [:], Mountpoint: data(name), Name: name)
    }

    func remove(_ name: String) throws {
        try FileManager.default.removeItem(atPath: "\(root)/\(name)")
    }
}

extension VolumeStore {
    /// The containers (any state) whose mounts name the volume.
    func users(of name: String, in store: StateStore) -> [ContainerRecord] {
        let source = data(name)
        return store.all().filter { r in (r.hostConfig.security?.mounts ?? []).contains { $0.type == "volume" && $0.source == source } }
    }

    /// The anonymous volumes of a container being removed (`rm -v`, `--rm`, a
    /// failed run), unless another container still uses one (--volumes-from).
    func removeAnonymous(of r: ContainerRecord, store: StateStore) {
        for m in r.hostConfig.security?.mounts ?? [] where m.type == "volume" && m.anonymous == true {
            let name = URL(fileURLWithPath: m.source).deletingLastPathComponent().lastPathComponent
            guard Self.isValidName(name), exists(name), users(of: name, in: store).allSatisfy({ $0.id == r.id }) else { continue }
            if (try? remove(name)) != nil { EventJournal(root: store.root).volume("destroy", name) }
        }
    }
}

extension Containers {
    func users(ofVolume name: String) -> [ContainerRecord] { volumes.users(of: name, in: store) }

    /// --volumes-from CONTAINER[:ro|rw]: its volumes and binds, at the same
    /// places, read-only or writable as asked (as they were by default).
    func inheritedMounts(_ flag: String) throws -> [ContainerRecord.MountPoint] {
        let parts = flag.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, !parts[0].isEmpty, parts.count == 1 || ["ro", "rw"].contains(parts[1]) else {
            throw RunError.invalid("invalid --volumes-from \(Validate.printable(flag)): write CONTAINER[:ro|rw]")
        }
        let source = try get(parts[0])
        return (source.hostConfig.security?.mounts ?? []).filter { $0.type == "volume" || $0.type == "bind" }.map { m in
            var m = m
            if parts.count == 2 { m.rw = parts[1] == "rw"; m.mode = parts[1] }
            return m
        }
    }

    /// `volume rm`: refused while a container uses it, as docker does (with -f too).
    public func removeVolume(_ name: String) throws {
        guard volumes.exists(name) else { throw RunError.invalid("no such volume: \(name)") }
        let users = users(ofVolume: name)
        guard users.isEmpty else {
            throw RunError.invalid("remove \(name): volume is in use - [\(users.map(\.id).joined(separator: ", "))]")
        }
        try volumes.remove(name)
        journal.volume("destroy", name)
    }

    /// `volume create`: made (with docker's create event), or there already.
    public func createVolume(_ name: String?) throws -> String {
        let (n, created) = try volumes.create(name)
        if created { journal.volume("create", n) }
        return n
    }

    /// `volume prune`: the anonymous volumes no container uses (docker 23's
    /// default), with `all` the named ones too.
    public func pruneVolumes(all: Bool = false) -> [String] {
        let removed = volumes.names().filter { (all || volumes.isAnonymous($0)) && users(ofVolume: $0).isEmpty && (try? volumes.remove($0)) != nil }
        for n in removed { journal.volume("destroy", n) }
        return removed
    }


    /// Named volumes of a new container: created if missing, and a new (empty)
    /// one filled from the image's content at its target, copied without
    /// following any link the image holds (the image is read inside its root).
    func prepareVolumes(_ r: ContainerRecord) throws {
        for m in r.hostConfig.security?.mounts ?? [] where m.type == "volume" {
            let name = URL(fileURLWithPath: m.source).deletingLastPathComponent().lastPathComponent
            let (_, created) = try volumes.create(name, anonymous: m.anonymous == true)
            if created { journal.volume("create", name) }
            // An anonymous volume is this container's alone: with --userns auto its root owns it.
            if created, m.anonymous == true, let range = r.hostConfig.userNamespace { _ = chown(volumes.data(name), range.uid, range.gid) }
            let empty = ((try? FileManager.default.contentsOfDirectory(atPath: volumes.data(name))) ?? []).isEmpty
            guard created || empty else { continue }
            let imageRoot = open(r.rootfs, InRoot.pathOnly | O_DIRECTORY | O_CLOEXEC)
            guard imageRoot >= 0 else { continue }
            defer { close(imageRoot) }
            let src = InRoot.openAt(m.destination, inRootFD: imageRoot, flags: InRoot.pathOnly | O_DIRECTORY)
            guard src >= 0 else { continue } // nothing there in the image: the volume stays empty
            defer { close(src) }
            var st = stat()
            guard fstat(src, &st) == 0 else { continue }
            let volumeFD = open("\(volumes.root)/\(name)", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard volumeFD >= 0 else { throw RunError.invalid("volume \(name): \(String(cString: strerror(errno)))") }
            defer { close(volumeFD) }
            // The image's directory copied onto _data (which exists): its owner and mode, then its content.
            var options = CopyOptions()
            options.archive = true
            try Self.copy(from: src, stat: st, into: volumeFD, name: "_data", options)
        }
    }
}
