import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A container's own user namespace: its maps, checked before anything is
/// cloned, and the handshake in which the engine writes them (see the shim's
/// `userns_sock`).
enum UserNamespace {
    /// The kernel takes at most 340 lines in one map (since Linux 4.15).
    static let maxLines = 340

    /// The `uid_map` and `gid_map` texts when the spec creates a user namespace;
    /// nil when it does not (and then it may not give maps either, as runc).
    static func maps(_ linux: OCISpec.Linux?, creating: Bool) throws -> (uid: String, gid: String)? {
        let uids = linux?.uidMappings ?? [], gids = linux?.gidMappings ?? []
        guard creating else {
            if !uids.isEmpty || !gids.isEmpty {
                throw EngineError.invalidSpec("linux.uidMappings/gidMappings are set but linux.namespaces creates no user namespace: add {\"type\": \"user\"} or drop the maps")
            }
            return nil
        }
        return (try text(uids, "uidMappings"), try text(gids, "gidMappings"))
    }

    static func text(_ maps: [OCISpec.IDMapping], _ field: String) throws -> String {
        guard !maps.isEmpty else {
            throw EngineError.invalidSpec("a new user namespace needs linux.\(field): give at least one {containerID, hostID, size}")
        }
        guard maps.count <= maxLines else {
            throw EngineError.invalidSpec("linux.\(field) has \(maps.count) entries: the kernel takes at most \(maxLines)")
        }
        let limit = UInt64(UInt32.max) + 1
        for (i, m) in maps.enumerated() {
            guard m.size > 0 else { throw EngineError.invalidSpec("linux.\(field)[\(i)]: size is 0: give the number of ids to map") }
            guard UInt64(m.containerID) + UInt64(m.size) <= limit, UInt64(m.hostID) + UInt64(m.size) <= limit else {
                throw EngineError.invalidSpec("linux.\(field)[\(i)]: the range of \(m.size) ids runs past 4294967295")
            }
        }
        for (i, a) in maps.enumerated() {
            for (j, b) in maps.enumerated() where j > i {
                if overlaps(a.containerID, b.containerID, a.size, b.size) || overlaps(a.hostID, b.hostID, a.size, b.size) {
                    throw EngineError.invalidSpec("linux.\(field)[\(i)] and [\(j)] overlap: each id may be mapped once")
                }
            }
        }
        return maps.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
    }

    static func overlaps(_ a: UInt32, _ b: UInt32, _ sa: UInt32, _ sb: UInt32) -> Bool {
        UInt64(a) < UInt64(b) + UInt64(sb) && UInt64(b) < UInt64(a) + UInt64(sa)
    }

    /// Waits until the first child has unshared its user namespace, writes the
    /// maps, lets it go on and returns the init's pid it sends back. On failure
    /// the socket is shut down, so the child ends (the caller reaps it).
    /// Without maps (a PID namespace joined by path only) it just takes the pid.
    static func handshake(_ sock: Int32, child: Int32, maps: (uid: String, gid: String)?) -> Result<Int32, EngineError> {
        func fail(_ e: EngineError) -> Result<Int32, EngineError> {
            shutdown(sock, Int32(SHUT_RDWR))
            return .failure(e)
        }
        if let maps {
            if let failure = writeMaps(sock, child: child, maps: maps) { return fail(failure) }
        }
        var pid: Int32 = 0
        guard Descriptors.readFully(sock, &pid, MemoryLayout<Int32>.size), pid > 0 else {
            return fail(.setup(stage: "creating the user namespace:", detail: "clone of the init", .noSuchProcess))
        }
        return .success(pid)
    }

    /// Waits for the child's unshare, writes both maps, lets it go on; the error if any.
    static func writeMaps(_ sock: Int32, child: Int32, maps: (uid: String, gid: String)) -> EngineError? {
        var byte: UInt8 = 0
        guard Descriptors.readFully(sock, &byte, 1) else {
            return .setup(stage: "creating the user namespace:", detail: "unshare", .noSuchProcess)
        }
        for (file, text) in [("uid_map", maps.uid), ("gid_map", maps.gid)] {
            let path = "/proc/\(child)/\(file)"
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return .system("open \(path)", Errno(rawValue: errno)) }
            // The kernel takes a map in one write only.
            let bytes = Array(text.utf8)
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let e = errno
            close(fd)
            guard n == bytes.count else {
                return .system("write \(path) (\(text.split(separator: "\n").joined(separator: ", ")))", Errno(rawValue: e))
            }
        }
        var go: UInt8 = 1
        guard write(sock, &go, 1) == 1 else { return .system("user namespace handshake", Errno(rawValue: errno)) }
        return nil
    }
}

