import FoundationEssentials
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// The `config` part of an OCI image configuration: what the image says to run.
public struct ImageConfig: Codable, Sendable, Equatable {
    public var Cmd: [String]?
    public var Entrypoint: [String]?
    public var Env: [String]?
    public var WorkingDir: String?
    public var ExposedPorts: [String: EmptyObject]?
    public var StopSignal: String?
    public var User: String?
    public var Labels: [String: String]?
    /// Paths that get an anonymous volume each (docker's VOLUME).
    public var Volumes: [String: EmptyObject]?
    public var Healthcheck: HealthConfig?

    public init() {}
}

/// `{}` in JSON, as in `"ExposedPorts": {"80/tcp": {}}`.
public struct EmptyObject: Codable, Sendable, Equatable {
    public init() {}
}

/// An image folder's config.json: an OCI image configuration.
struct ImageFile: Codable {
    var config: ImageConfig?
    init(config: ImageConfig? = nil) { self.config = config }
    /// The OCI image config's provenance (set by commit).
    var created: String?
    var author: String?
    var comment: String?
}

/// A root filesystem and what to run in it: an image from the store, an image
/// folder given by path, or a bare rootfs directory.
public struct Image: Sendable, Equatable {
    public var name: String
    /// The image folder (holding rootfs/ and config.json), nil for a bare rootfs.
    public var folder: String?
    public var rootfs: String
    public var config: ImageConfig
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case notFound(String, store: String)
    case notADirectory(String)
    case badConfig(String, reason: String)
    case unsafePath(String)

    public var description: String {
        switch self {
        case .notFound(let ref, let store):
            return "unable to find image \"\(ref)\": no image of that name in \(store) and no directory at that path; "
                + "build one (see rootfs-images/README.md) or give the path of a rootfs directory"
        case .notADirectory(let p):
            return "rootfs \"\(p)\" is not a directory: give a directory that holds a root filesystem"
        case .badConfig(let p, let reason):
            return "image config \(p) is broken: \(reason); rebuild the image"
        case .unsafePath(let p):
            return "rootfs path \"\(p)\" contains ',', ':' or a backslash, which overlayfs cannot take: move or link it elsewhere"
        }
    }
}

/// Images live in `<root>/<name>/{rootfs/, config.json}` (default /var/lib/minirt/images).
public struct ImageStore: Sendable {
    public static let defaultRoot = "/var/lib/minirt/images"
    public let root: String

    public init(root: String) { self.root = root }

    /// Resolves what `minirt run` was given: a name in the store first, else a path.
    public func resolve(_ ref: String) throws -> Image {
        let looksLikePath = ref.hasPrefix("/") || ref.hasPrefix(".") || ref.contains("/")
        if !looksLikePath, StateStore.isValidName(ref), isDirectory("\(root)/\(ref)/rootfs") {
            return try load(folder: "\(root)/\(ref)", name: ref)
        }
        guard access(ref, F_OK) == 0 else { throw ImageError.notFound(ref, store: root) }
        guard isDirectory(ref) else { throw ImageError.notADirectory(ref) }
        let absolute = Self.absolute(ref)
        if isDirectory("\(absolute)/rootfs") && access("\(absolute)/config.json", F_OK) == 0 {
            return try load(folder: absolute, name: ref)
        }
        try Self.checkOverlaySafe(absolute)
        return Image(name: ref, folder: nil, rootfs: absolute, config: ImageConfig())
    }

    public func list() -> [Image] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().compactMap { n in
            isDirectory("\(root)/\(n)/rootfs") ? try? load(folder: "\(root)/\(n)", name: n) : nil
        }
    }

    func load(folder: String, name: String) throws -> Image {
        let configPath = "\(folder)/config.json"
        var config = ImageConfig()
        if let data = FileManager.default.contents(atPath: configPath) {
            do {
                config = try JSONDecoder().decode(ImageFile.self, from: data).config ?? ImageConfig()
            } catch {
                throw ImageError.badConfig(configPath, reason: Self.describe(error))
            }
        }
        let rootfs = "\(folder)/rootfs"
        try Self.checkOverlaySafe(rootfs)
        return Image(name: name, folder: folder, rootfs: rootfs, config: config)
    }

    static func checkOverlaySafe(_ path: String) throws {
        if path.contains(",") || path.contains(":") || path.contains("\\") { throw ImageError.unsafePath(path) }
    }

    static func absolute(_ path: String) -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &buf) != nil else { return path }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "not valid JSON (\(c.debugDescription))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
