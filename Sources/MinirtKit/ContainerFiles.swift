import FoundationEssentials
import Glibc
import MinirtCNI
import MinirtEngine
import MinirtState

/// docker's `diff` and `export`: a container's filesystem seen from the host,
/// never by following what the container planted there.
extension Containers {
    /// `diff`: what changed against the image, from the overlay's upper layer:
    /// A added, C changed, D deleted (a whiteout), as docker lists them.
    public func diff(_ ref: String) throws -> [String] {
        let r = try get(ref)
        let upper = store.directory(r.id) + "/upper"
        var out: [String] = []
        let top = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard top >= 0 else { return [] } // a host-rootfs container (--rootfs dir) has no layer
        Self.walk(top, prefix: "") { path, st in
            let kind = st.st_mode & S_IFMT
            // minirt's own bind targets, which docker leaves out too.
            if Self.bindTargets.contains(path) && kind == S_IFREG { return false }
            if kind == S_IFCHR && st.st_rdev == 0 { out.append("D \(path)"); return false }
            // The image decides A or C; looked up inside the image's root.
            out.append("\(InRoot.exists(path, root: r.rootfs) ? "C" : "A") \(path)")
            return kind == S_IFDIR
        }
        return out
    }

    /// A directory stream's entries but . and .., in name order.
    static func entryNames(_ dir: OpaquePointer) -> [String] {
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static let bindTargets: Set<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]

    /// Every entry under the directory open at fd (which it closes), depth
    /// first in name order; `visit` says whether to descend into a directory.
    /// Each level is opened relative to its parent with O_NOFOLLOW: a symlink
    /// swapped in meanwhile is never followed.
    static func walk(_ fd: Int32, prefix: String, _ visit: (String, stat) -> Bool) {
        guard let dir = fdopendir(fd) else { close(fd); return }
        defer { closedir(dir) }
        for name in entryNames(dir) {
            var st = stat()
            guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let path = prefix + "/" + name
            guard visit(path, st), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            let child = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 { walk(child, prefix: path, visit) }
        }
    }

    /// `export`: the container's root filesystem as a tar stream on `output`
    /// (its own files only: not /proc, /sys, /dev or its volumes). A running
    /// container's root is read through /proc/PID/root; a stopped one's overlay
    /// is mounted for the copy in a mount namespace of the copy's own (gone
    /// with it), while its start lock keeps it from starting meanwhile.
    public func export(_ ref: String, to output: Int32) throws {
        let r = refreshed(try get(ref))
        if r.hostConfig.userNamespace != nil {
            throw RunError.invalid("cannot export \(r.name): a --userns auto container's files carry its host ids (not mapped back yet); export a container run without --userns")
        }
        let tar = ["/bin/tar", "--one-file-system", "--numeric-owner", "--xattrs", "--warning=no-file-changed", "-cf", "-"]
        let result: ChildOutput
        if r.state.status == .running && r.state.pid > 0 {
            result = try ChildProcess.run(tar[0], arguments: Array(tar.dropFirst()) + ["-C", "/proc/\(r.state.pid)/root", "."],
                                          environment: [], stdoutFD: output)
        } else {
            let lock = store.startLockDescriptor(r.id)
            defer { if lock >= 0 { close(lock) } }
            guard let data = FileManager.default.contents(atPath: store.directory(r.id) + "/config.json"),
                  let spec = try? JSONDecoder().decode(OCISpec.self, from: data) else {
                throw StateError.noSuchContainer(r.name)
            }
            let root = store.directory(r.id) + "/rootfs"
            if let overlay = spec.rootOverlayData {
                // The mount exists only in unshare's private namespace; tar runs there and exits.
                let script = "o=$1 r=$2; shift 2; mount -t overlay overlay -o \"$o\" \"$r\" && exec \"$@\""
                result = try ChildProcess.run("/usr/bin/unshare", arguments: ["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                                                                               overlay, root] + tar + ["-C", root, "."],
                                              environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], stdoutFD: output)
            } else {
                result = try ChildProcess.run(tar[0], arguments: Array(tar.dropFirst()) + ["-C", spec.root?.path ?? root, "."],
                                              environment: [], stdoutFD: output)
            }
        }
        // Status 1 is GNU tar's "a file changed while it was read": a running container's do.
        guard result.status == 0 || (result.status == 1 && r.state.status == .running) else {
            let why = String(decoding: result.stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "status \(result.status)"
            throw RunError.invalid("export of \(r.name) failed: \(why)")
        }
    }
}
