#if canImport(Glibc)
import Glibc
#endif

/// Writes a container's output as Docker's json-file driver does: one JSON
/// object a line, `{"log":"...\n","stream":"stdout","time":"RFC 3339"}`.
/// Glibc only (no Foundation): the supervisor links it and must stay small.
public final class JSONLogWriter {
    public enum Stream: String { case stdout, stderr }

    var fd: Int32
    /// Bytes of each stream not yet ended by a newline.
    private var pending: [Stream: [UInt8]] = [.stdout: [], .stderr: []]
    /// With a path and a size: docker's max-size/max-file rotation.
    let path: String?
    let rotation: Rotation
    var size: Int = 0

    /// docker's json-file `max-size` (bytes, 0: unbounded) and `max-file`
    /// (files kept, the current one included).
    public struct Rotation: Sendable, Equatable {
        public var maxSize: Int
        public var maxFiles: Int
        public init(maxSize: Int = 0, maxFiles: Int = 1) { self.maxSize = maxSize; self.maxFiles = max(1, maxFiles) }
        /// The file a rotation leaves as number `n` (1 is the newest).
        public static func rotated(_ path: String, _ n: Int) -> String { "\(path).\(n)" }
    }

    public init(fd: Int32) { self.fd = fd; path = nil; rotation = Rotation() }

    /// Appends to the log at `path`, rotating it as `rotation` says.
    public init(path: String, rotation: Rotation) {
        self.path = path
        self.rotation = rotation
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        var st = stat()
        if fd >= 0 && fstat(fd, &st) == 0 { size = Int(st.st_size) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends output; complete lines become entries, a long unfinished line is
    /// cut at 16 KiB as Docker does.
    public func append(_ bytes: ArraySlice<UInt8>, stream: Stream) {
        pending[stream, default: []] += bytes
        while let nl = pending[stream]!.firstIndex(of: 0x0a) {
            writeEntry(pending[stream]![...nl], stream: stream)
            pending[stream]!.removeSubrange(...nl)
        }
        if pending[stream]!.count > 16384 { flush(stream) }
    }

    public func flush(_ stream: Stream) {
        guard let p = pending[stream], !p.isEmpty else { return }
        writeEntry(p[...], stream: stream)
        pending[stream] = []
    }

    /// Reads everything a non-blocking fd has into the log; with `flush`, ends an unfinished line.
    public func drain(_ source: Int32, stream: Stream, flush: Bool = false, echo: Int32 = -1) {
        var buf = [UInt8](repeating: 0, count: 32768)
        while true {
            let n = read(source, &buf, buf.count)
            if n <= 0 { break }
            if echo >= 0 { Self.writeAll(echo, buf[0..<n]) }
            append(buf[0..<n], stream: stream)
        }
        if flush { self.flush(stream) }
    }

    public static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) {
        var off = bytes.startIndex
        while off < bytes.endIndex {
            let w = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return }
            off += w
        }
    }

    func writeEntry(_ line: ArraySlice<UInt8>, stream: Stream) {
        guard fd >= 0 else { return }
        var entry = Array("{\"log\":\"".utf8) + Self.escaped(line)
        entry += Array("\",\"stream\":\"\(stream.rawValue)\",\"time\":\"\(Self.timestamp())\"}\n".utf8)
        if rotation.maxSize > 0 && size > 0 && size + entry.count > rotation.maxSize { rotate() }
        Self.writeAll(fd, entry[...])
        size += entry.count
    }

    /// The current file becomes .1 (.1 becomes .2, ...; the oldest beyond
    /// max-file goes), and a new one starts: what readers see as docker's.
    func rotate() {
        guard let path, fd >= 0 else { return }
        close(fd)
        if rotation.maxFiles > 1 {
            unlink(Rotation.rotated(path, rotation.maxFiles - 1))
            var n = rotation.maxFiles - 1
            while n > 1 { rename(Rotation.rotated(path, n - 1), Rotation.rotated(path, n)); n -= 1 }
            rename(path, Rotation.rotated(path, 1))
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        size = 0
    }

    static func escaped(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case 0x22: out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x0a: out += [0x5c, 0x6e]
            case 0x0d: out += [0x5c, 0x72]
            case 0x09: out += [0x5c, 0x74]
            case 0..<0x20: out += [0x5c, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        return out
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var secs = ts.tv_sec
        var t = tm()
        gmtime_r(&secs, &t)
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1, 2))-\(pad(Int(t.tm_mday), 2))T"
            + "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(Int(ts.tv_nsec), 9))Z"
    }
}
