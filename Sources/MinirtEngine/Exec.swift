import CMinirtShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

extension Engine {
    /// Starts a process inside a running container: it joins the init's IPC,
    /// UTS, network, cgroup, PID and mount namespaces (the PID namespace through
    /// this thread, for its children only) and gets the same confinement.
    /// The process's terminal size is its `consoleSize`.
    public static func exec(into pid: Int32, process: OCISpec.Process, io: SpawnIO,
                            cgroupsPath: String? = nil, seccomp: OCISpec.Seccomp? = nil,
                            seccompCache: String? = nil, preserveFds: Int = 0) throws -> SpawnedProcess {
        let ownPidNS = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC)
        let targetPidNS = open("/proc/\(pid)/ns/pid", O_RDONLY | O_CLOEXEC)
        guard ownPidNS >= 0, targetPidNS >= 0 else {
            let e = Errno(rawValue: errno)
            if ownPidNS >= 0 { close(ownPidNS) }
            if targetPidNS >= 0 { close(targetPidNS) }
            throw EngineError.system("open /proc/\(pid)/ns/pid", e)
        }
        defer { close(ownPidNS); close(targetPidNS) }
        guard minirt_setns(targetPidNS, Int32(MINIRT_CLONE_NEWPID)) == 0 else {
            throw EngineError.system("setns(pid) into \(pid)", Errno(rawValue: errno))
        }
        // Whatever happens, this thread's children go back to our own PID namespace.
        defer { _ = minirt_setns(ownPidNS, Int32(MINIRT_CLONE_NEWPID)) }

        var spec = OCISpec()
        spec.process = process
        spec.root = OCISpec.Root(path: "")
        var linux = OCISpec.Linux()
        // A user namespace of the container's own is joined too (the shim enters it after the others).
        let types = ["ipc", "uts", "network", "cgroup", "mount"] + (ownUserNamespace(pid) ? ["user"] : [])
        linux.namespaces = types.map {
            OCISpec.Namespace(type: $0, path: "/proc/\(pid)/ns/\(["network": "net", "mount": "mnt"][$0] ?? $0)")
        }
        linux.cgroupsPath = cgroupsPath
        linux.seccomp = seccomp
        spec.linux = linux
        var options = SpawnOptions(io: io, preserveFds: preserveFds, seccompCache: seccompCache)
        options.joinExistingCgroup = true
        return try spawn(spec, bundle: "/", options: options)
    }

    /// Whether the process lives in a user namespace other than ours.
    static func ownUserNamespace(_ pid: Int32) -> Bool {
        var theirs = stat(), ours = stat()
        guard stat("/proc/\(pid)/ns/user", &theirs) == 0, stat("/proc/self/ns/user", &ours) == 0 else { return false }
        return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev
    }
}
