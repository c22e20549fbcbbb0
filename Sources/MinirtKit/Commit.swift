import FoundationEssentials
import MinirtCNI
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's `commit --change`: the Dockerfile instructions that set an image's config.
public enum ImageChanges {
    public static func apply(_ changes: [String], to c: inout ImageConfig) throws {
        for change in changes {
            let text = change.trimmed()
            let word = String(text.prefix { !$0.isWhitespace })
            let rest = text.dropFirst(word.count).trimmed()
            let bad = RunError.invalid("invalid --change \"\(Validate.printable(change))\": use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL with a value")
            guard !rest.isEmpty else { throw bad }
            switch word.uppercased() {
            case "CMD": c.Cmd = try command(rest)
            case "ENTRYPOINT": c.Entrypoint = try command(rest)
            case "ENV":
                var env = c.Env ?? []
                for (k, v) in try pairs(rest, allowSpaceForm: true) {
                    guard Validate.isToken(k) else { throw bad }
                    env.removeAll { $0.hasPrefix(k + "=") }
                    env.append("\(k)=\(v)")
                }
                c.Env = env
            case "LABEL":
                var labels = c.Labels ?? [:]
                for (k, v) in try pairs(rest, allowSpaceForm: false) {
                    guard Validate.isToken(k) else { throw bad }
                    labels[k] = v
                }
                c.Labels = labels
            case "EXPOSE":
                var ports = c.ExposedPorts ?? [:]
                for p in rest.split(separator: " ") {
                    let parts = p.split(separator: "/")
                    guard let n = UInt16(parts[0]), n > 0, parts.count <= 2, parts.count == 1 || ["tcp", "udp", "sctp"].contains(String(parts[1])) else { throw bad }
                    ports["\(n)/\(parts.count > 1 ? String(parts[1]) : "tcp")"] = EmptyObject()
                }
                c.ExposedPorts = ports
            case "USER": c.User = rest
            case "WORKDIR":
                guard rest.hasPrefix("/") else { throw RunError.invalid("invalid --change WORKDIR \(Validate.printable(rest)): give an absolute path") }
                c.WorkingDir = rest
            case "VOLUME":
                var volumes = c.Volumes ?? [:]
                let paths = rest.hasPrefix("[") ? try json(rest) : rest.split(separator: " ").map(String.init)
                for p in paths {
                    guard Validate.isCleanAbsolutePath(p) else { throw RunError.invalid("invalid --change VOLUME \(Validate.printable(p)): give absolute paths") }
                    volumes[p] = EmptyObject()
                }
                c.Volumes = volumes
            case "STOPSIGNAL":
                _ = try SignalName.parse(rest)
                c.StopSignal = rest
            default:
                throw bad
            }
        }
    }

    /// The exec form ["a", "b"], or the shell form run by /bin/sh -c.
    static func command(_ s: String) throws -> [String] {
        s.hasPrefix("[") ? try json(s) : ["/bin/sh", "-c", s]
    }

    static func json(_ s: String) throws -> [String] {
        guard let list = try? JSONDecoder().decode([String].self, from: Data(s.utf8)) else {
            throw RunError.invalid("invalid --change value \(Validate.printable(s)): a JSON list of strings such as [\"nginx\", \"-g\", \"daemon off;\"]")
        }
        return list
    }

    /// KEY=VALUE ... (values may be quoted), or ENV's old KEY VALUE.
    static func pairs(_ s: String, allowSpaceForm: Bool) throws -> [(String, String)] {
        if allowSpaceForm, !s.prefix(while: { !$0.isWhitespace }).contains("=") {
            let key = String(s.prefix { !$0.isWhitespace })
            return [(key, s.dropFirst(key.count).trimmed())]
        }
        var out: [(String, String)] = []
        var rest = Substring(s)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard let eq = rest.firstIndex(of: "="), eq != rest.startIndex else {
                if rest.isEmpty { break }
                throw RunError.invalid("invalid --change pair \(Validate.printable(String(rest))): write KEY=VALUE")
            }
            let key = String(rest[..<eq])
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "\"") else { throw RunError.invalid("invalid --change: an unclosed quote in \(Validate.printable(s))") }
                value = String(rest[..<close])
                rest = rest[rest.index(after: close)...]
            } else {
                value = String(rest.prefix { $0 != " " })
                rest = rest.dropFirst(value.count)
            }
            out.append((key, value))
        }
        return out
    }
}

extension Containers {
    /// `minirt commit`: the container's filesystem (the image with its writable
    /// layer, without its volumes and minirt's /etc files) as a new image in the
    /// store, with the container's config and the --change instructions over it.
    /// The content comes through `export`'s tar (a stream of what is there,
    /// never a path the container planted) into a hidden folder renamed into
    /// place whole; a running container is frozen meanwhile unless `pause` is false.
    public func commit(_ ref: String, as name: String, changes: [String], comment: String?, author: String?, pause: Bool) throws -> Image {
        guard StateStore.isValidName(name) else {
            throw RunError.invalid("invalid image name \"\(Validate.printable(name))\": use letters, digits, '.', '_' and '-'")
        }
        guard access("\(images.root)/\(name)", F_OK) != 0 else {
            throw RunError.invalid("image \(name) already exists: remove it first (minirt image rm \(name)) or choose another name")
        }
        let r = refreshed(try get(ref))
        // Its files carry its host ids (the range's), which an image must not bake in.
        if r.hostConfig.userNamespace != nil {
            throw RunError.invalid("cannot commit \(r.name): a --userns auto container's files carry its host ids (not mapped back yet); commit a container run without --userns")
        }
        let base = (try? images.resolve(r.image))?.config ?? ImageConfig()
        var config = base
        config.Cmd = r.config.cmd
        config.Entrypoint = r.config.entrypoint
        config.Env = r.config.env
        config.WorkingDir = r.config.workingDir.isEmpty ? nil : r.config.workingDir
        config.User = r.config.user.isEmpty ? nil : r.config.user
        config.Labels = r.config.labels.isEmpty ? nil : r.config.labels
        config.StopSignal = r.config.stopSignal
        config.ExposedPorts = r.config.exposedPorts.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, EmptyObject()) }) }
        config.Healthcheck = r.config.healthcheck
        try ImageChanges.apply(changes, to: &config)

        var thaw: Cgroup?
        if pause, r.state.status == .running, let cg = Self.cgroup(of: r), cg.exists(), !cg.isFrozen() {
            try? cg.setFrozen(true)
            thaw = cg
        }
        defer { try? thaw?.setFrozen(false) }

        try FileManager.default.createDirectory(atPath: images.root, withIntermediateDirectories: true)
        let stage = "\(images.root)/.commit-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: stage)
        do {
            try FileManager.default.createDirectory(atPath: stage + "/rootfs", withIntermediateDirectories: true)
            guard let (readEnd, writeEnd) = Descriptors.pipe() else { throw RunError.invalid("commit: pipe: \(String(cString: strerror(errno)))") }
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            let extractor = ChildProcess.spawn("/bin/tar", arguments: ["-x", "-f", "-", "-C", stage + "/rootfs", "--numeric-owner", "--xattrs", "--same-permissions"],
                                               environment: [], stdio: (readEnd, null, null))
            close(readEnd)
            close(null)
            var exported: Error?
            do { try export(r.id, to: writeEnd) } catch { exported = error }
            close(writeEnd)
            guard case .success(let pid) = extractor else { throw RunError.invalid("commit: cannot run tar") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            if let exported { throw exported }
            guard status == 0 else { throw RunError.invalid("commit of \(r.name) failed: tar could not unpack its filesystem (status \(exitCode(fromWaitStatus: status)))") }
            // minirt's /etc files were bind mounts, not the container's: the image's stay.
            let rootfs = open(stage + "/rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            defer { close(rootfs) }
            let etc = InRoot.openAt("/etc", inRootFD: rootfs, flags: O_RDONLY | O_DIRECTORY)
            if etc >= 0 {
                defer { close(etc) }
                for target in Self.bindTargets {
                    let file = String(target.dropFirst(5)) // after "/etc/"
                    unlinkat(etc, file, 0)
                    if let bytes = try? InRoot.read(target, root: r.rootfs) {
                        let fd = openat(etc, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                        if fd >= 0 { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; close(fd) }
                    }
                }
            }
            // --init's binary was bound in too.
            if r.hostConfig.initProcess == true, !InRoot.exists(RunPlan.initPath, root: r.rootfs) {
                let sbin = InRoot.openAt("/sbin", inRootFD: rootfs, flags: O_RDONLY | O_DIRECTORY)
                if sbin >= 0 { unlinkat(sbin, "minirt-init", 0); close(sbin) }
            }
            var file = ImageFile(config: config)
            file.created = Timestamp.now().rfc3339
            file.author = author
            file.comment = comment
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(file).write(to: URL(fileURLWithPath: stage + "/config.json"))
            guard Glibc.rename(stage, "\(images.root)/\(name)") == 0 else {
                throw RunError.invalid("cannot move the image into \(images.root)/\(name): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: stage)
            throw error
        }
        emit("commit", r, ["comment": comment ?? "", "imageRef": name])
        return try images.resolve(name)
    }
}
