import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One of docker's events, in the JSON shape `docker events --format json` prints.
public struct Event: Codable, Sendable, Equatable {
    public struct Actor: Codable, Sendable, Equatable {
        public var ID: String
        public var Attributes: [String: String]
    }
    public var status: String?
    public var id: String?
    public var from: String?
    public var `Type`: String
    public var Action: String
    public var Actor: Actor
    public var scope = "local"
    public var time: Int64
    public var timeNano: Int64

    public init(type: String, action: String, id: String, attributes: [String: String], at t: Timestamp = .now()) {
        self.Type = type
        self.Action = action
        self.Actor = .init(ID: id, Attributes: attributes)
        time = t.nanoseconds / 1_000_000_000
        timeNano = t.nanoseconds
        // docker's older top-level fields, kept for container events.
        if type == "container" {
            status = action
            self.id = id
            from = attributes["image"]
        }
    }
}

/// The record of what happened, kept without a daemon: every minirt process
/// appends its events to `.events.log` in the state root, one JSON line each,
/// in one write(2) of an O_APPEND descriptor (Linux appends it whole, even
/// with several writers). Bounded: past `maxBytes` the file becomes
/// `.events.log.1` (the one before is dropped), under a lock so that two
/// writers never rotate twice. `events` reads both and follows the new one.
public struct EventJournal: Sendable {
    public let root: String
    public static let maxBytes = 512 * 1024
    public init(root: String) { self.root = root }

    /// A dot file, as the store's own files are: not a container.
    public var path: String { "\(root)/.events.log" }
    public var previousPath: String { path + ".1" }

    public func append(_ e: Event) {
        guard var line = try? JSONEncoder().encode(e) else { return }
        line.append(0x0a)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return } // no state root yet: nothing to record into
        let size: Int = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var st = stat()
        let full = size > 0 && fstat(fd, &st) == 0 && st.st_size > Self.maxBytes
        close(fd)
        if full { rotate() }
    }

    func rotate() {
        let lock = open("\(root)/.events.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { return }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { return }
        var st = stat()
        // Another writer may have rotated while we waited.
        if stat(path, &st) == 0 && st.st_size > Self.maxBytes { rename(path, previousPath) }
    }

    /// The events recorded, oldest first; lines that do not parse are skipped.
    public func recorded() -> [Event] {
        [previousPath, path].flatMap { Self.parse(Self.contents($0)) }
    }

    /// The file's bytes from `offset` on.
    public static func contents(_ path: String, from offset: Int = 0) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        if offset > 0 && lseek(fd, off_t(offset), SEEK_SET) < 0 { return [] }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    public static func parse(_ bytes: some Collection<UInt8>) -> [Event] {
        let decoder = JSONDecoder()
        return bytes.split(separator: 0x0a).compactMap { try? decoder.decode(Event.self, from: Data($0)) }
    }
}
