import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// `image save`: an image of the store as an OCI image layout in a tar
/// (`oci-layout`, `index.json`, `blobs/sha256/…`), which podman (`podman load`)
/// and other engines load: one layer (the rootfs, uncompressed), its config in
/// the OCI image config's words, a manifest, an index naming it. Digests come
/// from coreutils' sha256sum; every blob is written first and then named by its digest.
extension ImageStore {
    public func save(_ name: String, to output: Int32) throws {
        let image = try resolve(name)
        guard image.folder != nil else { throw RunError.invalid("no such image: \(name) (a rootfs directory is not an image: minirt image import it first)") }
        try Scratch.folder("save") { scratch in try save(image, name: name, in: scratch, to: output) }
    }

    func save(_ image: Image, name: String, in scratch: String, to output: Int32) throws {
        let blobs = scratch + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)

        // The layer: the rootfs as it is (owners by number, extended attributes).
        let layer = scratch + "/layer.tar"
        let tar = try ChildProcess.run("/bin/tar", arguments: ["-c", "-f", layer, "--numeric-owner", "--xattrs", "-C", image.rootfs, "."], environment: [])
        guard tar.status == 0 else { throw RunError.invalid("image save: tar of \(image.rootfs) failed: \(Self.firstLine(tar.stderr))") }
        let layerBlob = try blob(movingFile: layer, into: blobs)

        let now = Timestamp.now().rfc3339
        struct RootFS: Encodable { var type = "layers"; var diff_ids: [String] }
        struct History: Encodable { var created: String; var created_by: String }
        struct Config: Encodable {
            var created: String; var architecture: String; var os = "linux"
            var config: ImageConfig; var rootfs: RootFS; var history: [History]
        }
        let config = Config(created: now, architecture: ImageView(image).Architecture, config: image.config,
                            rootfs: RootFS(diff_ids: [layerBlob.digest]), history: [History(created: now, created_by: "minirt image save \(name)")])
        let configBlob = try blob(Self.encode(config), into: blobs)

        struct Descriptor: Encodable { var mediaType: String; var digest: String; var size: Int; var annotations: [String: String]? }
        struct Manifest: Encodable { var schemaVersion = 2; var mediaType = "application/vnd.oci.image.manifest.v1+json"; var config: Descriptor; var layers: [Descriptor] }
        let manifest = Manifest(config: Descriptor(mediaType: "application/vnd.oci.image.config.v1+json", digest: configBlob.digest, size: configBlob.size),
                                layers: [Descriptor(mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerBlob.digest, size: layerBlob.size)])
        let manifestBlob = try blob(Self.encode(manifest), into: blobs)

        struct Index: Encodable { var schemaVersion = 2; var manifests: [Descriptor] }
        let index = Index(manifests: [Descriptor(mediaType: "application/vnd.oci.image.manifest.v1+json", digest: manifestBlob.digest, size: manifestBlob.size,
                                                 annotations: ["org.opencontainers.image.ref.name": name])])
        try Self.encode(index).write(to: URL(fileURLWithPath: scratch + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: scratch + "/oci-layout"))
        let out = try ChildProcess.run("/bin/tar", arguments: ["-c", "-f", "-", "-C", scratch, "oci-layout", "index.json", "blobs"],
                                       environment: [], stdoutFD: output)
        guard out.status == 0 else { throw RunError.invalid("image save: writing the archive failed: \(Self.firstLine(out.stderr))") }
    }

    static func encode<T: Encodable>(_ v: T) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(v)
    }

    static func firstLine(_ d: Data) -> String { String(decoding: d, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "" }

    /// Writes bytes as a blob named by their digest.
    func blob(_ data: Data, into blobs: String) throws -> (digest: String, size: Int) {
        let temporary = blobs + "/.new"
        try data.write(to: URL(fileURLWithPath: temporary))
        return try blob(movingFile: temporary, into: blobs)
    }

    /// Moves a file into the blobs folder under its sha256 digest.
    func blob(movingFile path: String, into blobs: String) throws -> (digest: String, size: Int) {
        let sum = try ChildProcess.run("/usr/bin/sha256sum", arguments: [path], environment: [])
        let hex = String(decoding: sum.stdout, as: UTF8.self).prefix { $0 != " " }
        guard sum.status == 0, hex.count == 64 else { throw RunError.invalid("image save: sha256sum failed: \(Self.firstLine(sum.stderr))") }
        var st = stat()
        guard stat(path, &st) == 0, Glibc.rename(path, blobs + "/" + hex) == 0 else {
            throw RunError.invalid("image save: \(String(cString: strerror(errno)))")
        }
        return ("sha256:" + hex, Int(st.st_size))
    }
}

/// `image load`: an OCI image layout tar (`podman save --format oci-archive`,
/// `minirt image save`) or a docker-archive (`docker save`, `podman save`) as
/// an image of the store. Untrusted content, so: the archive is unpacked by GNU
/// tar into a private folder (members with `..` refused); blobs are named only
/// by digests checked to be 64 hex digits (and their sha256 checked); each
/// layer is unpacked into a folder of its own and then applied onto the new
/// rootfs by descriptor-relative operations that never follow a link: a
/// whiteout (`.wh.NAME`) removes NAME, an opaque marker (`.wh..wh..opq`)
/// empties its directory, a directory where a file or link was replaces it,
/// files and links are copied as they are (device nodes are not). The image is
/// built in a hidden folder of the store and renamed into place whole.
extension ImageStore {
    /// Loads every image of the archive (docker's save of several, an OCI layout's
    /// manifests); `name` names the one image of an archive that holds one.
    public func load(from input: Int32, name given: String?) throws -> [Image] {
        try Scratch.folder("load") { scratch in try load(from: input, name: given, in: scratch) }
    }

    func load(from input: Int32, name given: String?, in scratch: String) throws -> [Image] {
        let outer = scratch + "/archive"
        try FileManager.default.createDirectory(atPath: outer, withIntermediateDirectories: true)
        let untar = try ChildProcess.run("/bin/tar", arguments: ["-x", "-f", "-", "--no-same-owner", "-C", outer], environment: [], stdinFD: input)
        guard untar.status == 0 else { throw RunError.invalid("image load: not a tar archive: \(Self.firstLine(untar.stderr))") }

        let found = try Self.readArchive(outer)
        if given != nil && found.count > 1 {
            throw RunError.invalid("image load: the archive holds \(found.count) images and --name names one: load it without --name (each keeps its own name)")
        }
        // Every name and config is checked before anything is written: a refusal leaves nothing.
        struct OCIConfig: Decodable { var config: ImageConfig? }
        var plans: [(name: String, config: ImageConfig, layers: [String])] = []
        for (configPath, layerPaths, suggested) in found {
            let name = given ?? suggested
            guard StateStore.isValidName(name) else {
                throw RunError.invalid("image load: \"\(Validate.printable(name))\" is not a name for the store: give --name NAME (letters, digits, '.', '_' and '-')")
            }
            guard access("\(root)/\(name)", F_OK) != 0, !plans.contains(where: { $0.name == name }) else {
                throw RunError.invalid("image \(name) already exists: remove it first (minirt image rm \(name)) or give --name")
            }
            guard let configData = FileManager.default.contents(atPath: configPath) else { throw RunError.invalid("image load: the image config is missing") }
            let config: ImageConfig
            do { config = try JSONDecoder().decode(OCIConfig.self, from: configData).config ?? ImageConfig() } catch {
                throw RunError.invalid("image load: the image config is not JSON an image config has: \(Self.describe(error))")
            }
            plans.append((name, config, layerPaths))
        }
        var loaded: [Image] = []
        do {
            for p in plans {
                try unpack(name: p.name, config: p.config, layers: p.layers, scratch: scratch)
                loaded.append(try resolve(p.name))
            }
        } catch {
            // All or nothing, as the checks above promise.
            for image in loaded { try? FileManager.default.removeItem(atPath: "\(root)/\(image.name)") }
            throw error
        }
        return loaded
    }

    /// Applies the layers in order onto a new rootfs and moves the image into the store.
    func unpack(name: String, config: ImageConfig, layers layerPaths: [String], scratch: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let stage = "\(root)/.load-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: stage)
        do {
            try FileManager.default.createDirectory(atPath: stage + "/rootfs", withIntermediateDirectories: true)
            let rootfs = open(stage + "/rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard rootfs >= 0 else { throw RunError.invalid("image load: \(String(cString: strerror(errno)))") }
            defer { close(rootfs) }
            for (i, layer) in layerPaths.enumerated() {
                let dir = scratch + "/layer\(i)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let x = try ChildProcess.run("/bin/tar", arguments: ["-x", "-f", layer, "--numeric-owner", "--same-owner", "--xattrs", "-C", dir], environment: [])
                guard x.status == 0 else { throw RunError.invalid("image load: layer \(i + 1) could not be unpacked: \(Self.firstLine(x.stderr))") }
                let src = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard src >= 0 else { throw RunError.invalid("image load: \(String(cString: strerror(errno)))") }
                defer { close(src) }
                try Self.apply(layer: src, onto: rootfs)
                try? FileManager.default.removeItem(atPath: dir)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(ImageFile(config: config)).write(to: URL(fileURLWithPath: stage + "/config.json"))
            guard Glibc.rename(stage, "\(root)/\(name)") == 0 else {
                throw RunError.invalid("cannot move the image into \(root)/\(name): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: stage)
            throw error
        }
    }

    /// This machine's architecture in OCI's words (what an index's platforms name).
    static var architecture: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return ""
        #endif
    }

    /// Each image's config path, layer paths in order and name, from
    /// manifest.json (docker-archive) or index.json (OCI: an index may list
    /// indexes, as multi-platform images do: this machine's platform is taken);
    /// every path checked to stay inside.
    static func readArchive(_ dir: String) throws -> [(String, [String], String)] {
        /// A regular file of the unpacked archive, reached through no link: the
        /// archive's own links (GNU tar makes them at its end) could lead anywhere.
        func plain(_ relative: String) throws -> String {
            var path = dir
            let parts = relative.split(separator: "/").map(String.init)
            for (i, part) in parts.enumerated() {
                path += "/" + part
                var st = stat()
                guard lstat(path, &st) == 0 else { throw RunError.invalid("image load: \(relative) is missing") }
                let kind = st.st_mode & S_IFMT
                guard kind == (i == parts.count - 1 ? S_IFREG : S_IFDIR) else {
                    throw RunError.invalid("image load: \(relative) is not a plain file of the archive (a link or a special file on its way)")
                }
            }
            return path
        }
        func blob(_ digest: String) throws -> String {
            let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : ""
            guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw RunError.invalid("image load: \"\(Validate.printable(digest))\" is not a sha256 digest")
            }
            let path = try plain("blobs/sha256/\(hex)")
            let sum = try ChildProcess.run("/usr/bin/sha256sum", arguments: [path], environment: [])
            guard String(decoding: sum.stdout, as: UTF8.self).hasPrefix(hex + " ") else {
                throw RunError.invalid("image load: blob \(digest) does not have that digest: the archive is corrupt")
            }
            return path
        }
        func inside(_ relative: String) throws -> String {
            guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains(".."), !relative.isEmpty else {
                throw RunError.invalid("image load: the path \"\(Validate.printable(relative))\" leaves the archive")
            }
            return try plain(relative)
        }
        struct Platform: Decodable { var os: String?; var architecture: String? }
        struct Descriptor: Decodable { var mediaType: String?; var digest: String; var annotations: [String: String]?; var platform: Platform? }
        struct Index: Decodable { var manifests: [Descriptor] }
        struct Manifest: Decodable { var config: Descriptor; var layers: [Descriptor] }
        struct DockerEntry: Decodable { var Config: String; var RepoTags: [String]?; var Layers: [String] }
        let decoder = JSONDecoder()
        // docker-archive first: podman's and docker's saves carry manifest.json (an OCI layout may too).
        if let manifestPath = try? plain("manifest.json"), let data = FileManager.default.contents(atPath: manifestPath),
           let entries = try? decoder.decode([DockerEntry].self, from: data), !entries.isEmpty {
            return try entries.map { (try inside($0.Config), try $0.Layers.map(inside), suggestedName($0.RepoTags?.first)) }
        }
        guard let indexPath = try? plain("index.json"), let data = FileManager.default.contents(atPath: indexPath),
              let index = try? decoder.decode(Index.self, from: data), !index.manifests.isEmpty else {
            throw RunError.invalid("image load: neither an OCI image layout (index.json) nor a docker archive (manifest.json)")
        }
        /// An image manifest, or an index's entry for this platform (bounded: an index may not nest without end).
        func image(_ d: Descriptor, name: String, depth: Int) throws -> (String, [String], String) {
            let bytes = FileManager.default.contents(atPath: try blob(d.digest)) ?? Data()
            if let manifest = try? decoder.decode(Manifest.self, from: bytes) {
                return (try blob(manifest.config.digest), try manifest.layers.map { try blob($0.digest) }, name)
            }
            guard depth < 4, let nested = try? decoder.decode(Index.self, from: bytes) else {
                throw RunError.invalid("image load: \(d.digest) is neither an image manifest nor an index of them")
            }
            let mine = nested.manifests.filter { ($0.platform?.os ?? "linux") == "linux" && ($0.platform?.architecture ?? architecture) == architecture }
            guard let pick = mine.first else {
                let has = nested.manifests.compactMap { $0.platform.map { "\($0.os ?? "?")/\($0.architecture ?? "?")" } }
                throw RunError.invalid("image load: the image index has no linux/\(architecture) image (it has \(has.joined(separator: ", ")))")
            }
            return try image(pick, name: name, depth: depth + 1)
        }
        // A layout may list one image per platform at its top: this machine's alone.
        let usable = index.manifests.filter { d in d.platform.map { ($0.os ?? "linux") == "linux" && ($0.architecture ?? architecture) == architecture } ?? true }
        guard !usable.isEmpty else { throw RunError.invalid("image load: the archive has no linux/\(architecture) image") }
        return try usable.map { try image($0, name: suggestedName($0.annotations?["org.opencontainers.image.ref.name"]), depth: 0) }
    }

    /// docker.io/library/nginx:1.25 → nginx-1.25; :latest is dropped.
    static func suggestedName(_ ref: String?) -> String {
        guard let ref, !ref.isEmpty else { return "" }
        var last = String(ref.split(separator: "/").last ?? "")
        if last.hasSuffix(":latest") { last.removeLast(7) }
        return last.replacing(":", with: "-")
    }

    /// Applies an unpacked layer (src) onto the rootfs being built (dst), by descriptors only.
    static func apply(layer src: Int32, onto dst: Int32) throws {
        let list = openat(src, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard list >= 0, let dir = fdopendir(list) else { throw RunError.invalid("image load: \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        let names = Containers.entryNames(dir)
        if names.contains(".wh..wh..opq") { try removeChildren(of: dst) }
        for name in names where name != ".wh..wh..opq" {
            if name.hasPrefix(".wh.") {
                try removeTree(String(name.dropFirst(4)), in: dst)
                continue
            }
            var st = stat()
            guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                var existing = stat()
                if fstatat(dst, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 && (existing.st_mode & S_IFMT) != S_IFDIR {
                    try removeTree(name, in: dst) // a file or a link where the layer has a directory: replaced, never followed
                }
                if mkdirat(dst, name, st.st_mode & 0o7777) != 0 && errno != EEXIST {
                    throw RunError.invalid("image load: mkdir \(name): \(String(cString: strerror(errno)))")
                }
                let child = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                let from = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                defer { if child >= 0 { close(child) }; if from >= 0 { close(from) } }
                guard child >= 0, from >= 0 else { throw RunError.invalid("image load: \(name): \(String(cString: strerror(errno)))") }
                _ = fchmod(child, st.st_mode & 0o7777)
                _ = fchown(child, st.st_uid, st.st_gid)
                try apply(layer: from, onto: child)
            } else {
                var existing = stat()
                if fstatat(dst, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 && (existing.st_mode & S_IFMT) == S_IFDIR {
                    try removeTree(name, in: dst) // a file where a directory was: the directory goes
                }
                let from = openat(dirfd(dir), name, InRoot.pathOnly | O_NOFOLLOW | O_CLOEXEC)
                guard from >= 0 else { continue }
                defer { close(from) }
                var options = Containers.CopyOptions()
                options.archive = true
                try Containers.copy(from: from, stat: st, into: dst, name: name, options)
            }
        }
    }

    static func removeTree(_ name: String, in dir: Int32) throws {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else { return }
        if unlinkat(dir, name, 0) == 0 || errno == ENOENT { return }
        let child = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard child >= 0 else { return }
        try removeChildren(of: child)
        close(child)
        _ = unlinkat(dir, name, AT_REMOVEDIR)
    }

    static func removeChildren(of dirFD: Int32) throws {
        let list = openat(dirFD, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard list >= 0, let dir = fdopendir(list) else { return }
        defer { closedir(dir) }
        for n in Containers.entryNames(dir) { try removeTree(n, in: dirfd(dir)) }
    }
}
