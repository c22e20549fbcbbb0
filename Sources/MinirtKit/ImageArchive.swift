import Foundation
import MinirtCNI
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
        var template = Array("/tmp/minirt-save-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RunError.invalid("image save: cannot make a scratch folder: \(String(cString: strerror(errno)))") }
        let scratch = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
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
