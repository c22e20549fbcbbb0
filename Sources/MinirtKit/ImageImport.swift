import FoundationEssentials
import Glibc
import MinirtState

/// `minirt image import` and `minirt image rm`: the store's other two doors.
/// An image is built in a hidden folder of the store and renamed into place
/// whole, so a failure leaves nothing half-made.
extension ImageStore {
    /// Imports a root filesystem directory, an image folder (rootfs/ + config.json),
    /// or a tar of a root filesystem (as `docker export` writes, optionally compressed).
    public func importImage(_ source: String, name: String, cmd: [String]?) throws -> Image {
        guard StateStore.isValidName(name) else {
            throw RunError.invalid("invalid image name \"\(name)\": use letters, digits, '.', '_' and '-'")
        }
        guard access("\(root)/\(name)", F_OK) != 0 else {
            throw RunError.invalid("image \(name) already exists: remove it first (minirt image rm \(name)) or choose another name")
        }
        guard access(source, F_OK) == 0 else { throw RunError.invalid("cannot import \(source): no such file or directory") }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let work = "\(root)/.import-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work + "/rootfs", withIntermediateDirectories: true)
        do {
            var config = ImageFile(config: ImageConfig())
            if isDirectory(source) {
                let folder = isDirectory("\(source)/rootfs") && access("\(source)/config.json", F_OK) == 0
                let from = folder ? "\(source)/rootfs" : source
                // cp -a keeps owners, modes, links and device nodes, as a rootfs needs.
                try Command.run("/bin/cp", ["-a", "\(from)/.", "\(work)/rootfs/"])
                if folder, let data = FileManager.default.contents(atPath: "\(source)/config.json") {
                    do { config = try JSONDecoder().decode(ImageFile.self, from: data) } catch {
                        throw ImageError.badConfig("\(source)/config.json", reason: Self.describe(error))
                    }
                }
            } else {
                do {
                    try Command.run("/bin/tar", ["-x", "-f", source, "-C", "\(work)/rootfs", "--numeric-owner"])
                } catch {
                    throw RunError.invalid("cannot import \(source): it is not a tar archive (give a rootfs directory or a tar of one)")
                }
            }
            if config.config == nil { config.config = ImageConfig() }
            let r = "\(work)/rootfs"
            guard ["bin", "usr/bin", "sbin"].contains(where: { access("\(r)/\($0)", F_OK) == 0 }) else {
                throw RunError.invalid("cannot import \(source): it holds no root filesystem (no bin/, usr/bin/ or sbin/ at its top)")
            }
            for dir in ["proc", "sys", "dev", "tmp", "etc"] where access("\(r)/\(dir)", F_OK) != 0 {
                try FileManager.default.createDirectory(atPath: "\(r)/\(dir)", withIntermediateDirectories: true)
            }
            if let cmd { config.config?.Cmd = cmd }
            if config.config?.Env == nil { config.config?.Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(config).write(to: URL(fileURLWithPath: "\(work)/config.json"))
            guard rename(work, "\(root)/\(name)") == 0 else {
                throw RunError.invalid("cannot move the image into \(root)/\(name): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: work)
            throw error
        }
        return try load(folder: "\(root)/\(name)", name: name)
    }

    /// `image tag SOURCE TARGET`: another name for the same image, a link in
    /// the store to its folder (a tag of a tag names the folder itself).
    public func tag(_ source: String, as target: String) throws {
        guard StateStore.isValidName(target) else {
            throw RunError.invalid("invalid image name \"\(Validate.printable(target))\": use letters, digits, '.', '_' and '-' (the store has no :TAG part)")
        }
        guard StateStore.isValidName(source), isDirectory("\(root)/\(source)/rootfs") else {
            throw RunError.invalid("no such image: \(source) (minirt images lists them)")
        }
        guard access("\(root)/\(target)", F_OK) != 0 else {
            throw RunError.invalid("image \(target) already exists: remove it first (minirt image rm \(target)) or choose another name")
        }
        let folder = folderName(source)
        guard symlink(folder, "\(root)/\(target)") == 0 else {
            throw RunError.invalid("cannot tag \(source) as \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// `image prune`: the store keeps no untagged (dangling) images, so only
    /// `-a` removes anything: every image (tags first) no container was made from.
    public func prune(all: Bool, users: [ContainerRecord]) -> [String] {
        guard all else { return [] }
        let used = Set(users.map(\.image))
        let names = list().map(\.name).filter { !used.contains($0) }
        let (links, folders) = (names.filter { folderName($0) != $0 }, names.filter { folderName($0) == $0 })
        var removed: [String] = []
        for n in links + folders where (try? remove(n, users: users, force: false)) != nil { removed.append(n) }
        return removed
    }

    /// `image history`: the store's images are one layer each, as made.
    public func history(_ name: String) throws -> [String] {
        let image = try resolve(name)
        guard let folder = image.folder else { throw RunError.invalid("no such image: \(name) (minirt images lists them)") }
        var file = ImageFile()
        if let data = FileManager.default.contents(atPath: folder + "/config.json") { file = (try? JSONDecoder().decode(ImageFile.self, from: data)) ?? file }
        var st = stat()
        stat(folder + "/config.json", &st)
        let made = file.created.flatMap { Timestamp(rfc3339: $0) } ?? Timestamp(nanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000)
        let by = file.created != nil ? "minirt commit" + (file.author.map { " by \($0)" } ?? "") : "a root filesystem (rootfs-images/build or image import)"
        return [name, humanDuration(.now(), since: made) + " ago", by, StatsRow.decimal(DiskUsage.bytes(of: image.rootfs)), file.comment ?? ""]
    }

    /// The real folder's name behind a name (itself unless it is a tag).
    func folderName(_ name: String) -> String {
        var st = stat()
        guard lstat("\(root)/\(name)", &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK,
              let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(name)") else { return name }
        return PathText.lastComponent(target)
    }

    /// Whether a name of the store is a tag (a link to another's folder).
    public func isTag(_ name: String) -> Bool { StateStore.isValidName(name) && folderName(name) != name }

    /// The tags (links) that name a folder.
    func tags(of folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0 != folder && folderName($0) == folder }.sorted()
    }

    /// Removes an image no container of `users` is made from (unless forced).
    /// A tag goes alone; an image with tags only with -f, which takes them too.
    public func remove(_ name: String, users: [ContainerRecord], force: Bool) throws {
        guard StateStore.isValidName(name), isDirectory("\(root)/\(name)/rootfs") else {
            throw RunError.invalid("no such image: \(name) (minirt images lists them)")
        }
        if folderName(name) != name {
            if !force, let user = users.first(where: { $0.image == name }) {
                throw RunError.invalid("image \(name) is used by container \(user.name) (\(user.shortID)): remove the container first, or use -f")
            }
            guard unlink("\(root)/\(name)") == 0 else { throw RunError.invalid("cannot untag \(name): \(String(cString: strerror(errno)))") }
            return
        }
        let tagged = tags(of: name)
        if !tagged.isEmpty && !force {
            throw RunError.invalid("image \(name) is also tagged \(tagged.joined(separator: ", ")): remove those tags first, or use -f (which removes them too)")
        }
        let folder = "\(root)/\(name)"
        if !force, let user = users.first(where: { $0.image == name || tagged.contains($0.image) || $0.rootfs.hasPrefix(folder + "/") }) {
            throw RunError.invalid("image \(name) is used by container \(user.name) (\(user.shortID)): remove the container first, or use -f")
        }
        for t in tagged { unlink("\(root)/\(t)") }
        // Renamed first, so the name is free at once and no half-removed image is ever listed.
        let trash = "\(root)/.trash-\(name)-\(getpid())"
        guard rename(folder, trash) == 0 else {
            throw RunError.invalid("cannot remove image \(name): \(String(cString: strerror(errno)))")
        }
        try? FileManager.default.removeItem(atPath: trash)
    }
}
