import Foundation
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

    /// Removes an image no container of `users` is made from (unless forced).
    public func remove(_ name: String, users: [ContainerRecord], force: Bool) throws {
        guard StateStore.isValidName(name), isDirectory("\(root)/\(name)/rootfs") else {
            throw RunError.invalid("no such image: \(name) (minirt images lists them)")
        }
        let folder = "\(root)/\(name)"
        if !force, let user = users.first(where: { $0.image == name || $0.rootfs.hasPrefix(folder + "/") }) {
            throw RunError.invalid("image \(name) is used by container \(user.name) (\(user.shortID)): remove the container first, or use -f")
        }
        // Renamed first, so the name is free at once and no half-removed image is ever listed.
        let trash = "\(root)/.trash-\(name)-\(getpid())"
        guard rename(folder, trash) == 0 else {
            throw RunError.invalid("cannot remove image \(name): \(String(cString: strerror(errno)))")
        }
        try? FileManager.default.removeItem(atPath: trash)
    }
}
