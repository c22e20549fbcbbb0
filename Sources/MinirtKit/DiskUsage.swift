import FoundationEssentials
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// Bytes a directory tree holds (st_blocks, each inode once, links not
/// followed, other filesystems not entered): what `ls -s`, `system df` and
/// `inspect --size` show. Read on demand only, never on a start.
public enum DiskUsage {
    public static func bytes(of path: String) -> UInt64 {
        var seen = Set<UInt64>()
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        return walk(path, device: st.st_dev, seen: &seen)
    }

    static func walk(_ path: String, device: dev_t, seen: inout Set<UInt64>) -> UInt64 {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_dev == device else { return 0 }
        if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
            guard seen.insert(UInt64(st.st_ino)).inserted else { return 0 }
        }
        var total = UInt64(st.st_blocks) * 512
        guard (st.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) else { return total }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name == "." || name == ".." { continue }
            total += walk(path + "/" + name, device: device, seen: &seen)
        }
        return total
    }
}

/// `system df`: docker's table of images, containers and local volumes.
public struct DiskUsageRow: Encodable, Sendable {
    public var `Type`: String
    public var TotalCount: Int
    public var Active: Int
    public var Size: String
    public var Reclaimable: String
    public static let headers = ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    public var cells: [String] { [Type, String(TotalCount), String(Active), Size, Reclaimable] }
}

extension Containers {
    /// The writable layer of a container: what `ls -s` calls its size.
    public func layerSize(_ r: ContainerRecord) -> UInt64 { DiskUsage.bytes(of: store.directory(r.id) + "/upper") }

    public func diskUsage() -> [DiskUsageRow] {
        func row(_ type: String, _ items: [(size: UInt64, active: Bool)]) -> DiskUsageRow {
            let total = items.reduce(0) { $0 + $1.size }
            let idle = items.filter { !$0.active }.reduce(0) { $0 + $1.size }
            let share = total > 0 ? Int((Double(idle) / Double(total) * 100).rounded()) : 0
            return DiskUsageRow(Type: type, TotalCount: items.count, Active: items.filter(\.active).count,
                                Size: StatsRow.decimal(total), Reclaimable: "\(StatsRow.decimal(idle)) (\(share)%)")
        }
        let all = list(all: true)
        let used = Set(all.map(\.image))
        let imageRows = images.list().map { i in (DiskUsage.bytes(of: i.rootfs), used.contains(i.name)) }
        let containerRows = all.map { (layerSize($0), $0.state.status == .running) }
        let volumeRows = volumes.names().map { n in (DiskUsage.bytes(of: volumes.data(n)), !users(ofVolume: n).isEmpty) }
        return [row("Images", imageRows), row("Containers", containerRows), row("Local Volumes", volumeRows)]
    }
}

/// `inspect --type image` / `image inspect`: docker's keys that a rootfs folder has.
public struct ImageView: Encodable, Sendable {
    public var Id: String
    public var RepoTags: [String]
    public var Config: ImageConfig
    public var Os = "linux"
    public var Architecture: String
    public var Size: UInt64
    public var GraphDriver: Driver
    public struct Driver: Encodable, Sendable {
        public var Name = "rootfs"
        public var Data: [String: String]
    }

    public init(_ i: Image) {
        // The store names images; it keeps no content digest.
        Id = i.name
        RepoTags = [i.name]
        Config = i.config
        var u = utsname()
        uname(&u)
        let machine = withUnsafePointer(to: u.machine) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        Architecture = machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine
        Size = DiskUsage.bytes(of: i.rootfs)
        GraphDriver = Driver(Data: ["RootDir": i.rootfs])
    }
}
