/// linux.sysctl: only the kernel parameters that belong to a namespace the
/// container has of its own may be set (runc's rule), so nothing reaches the host.
#if canImport(Glibc)
import Glibc
#endif

public enum Sysctl {
    /// The namespace types the container has of its own: new ones, and joined
    /// ones that are not this process's (a pinned CNI namespace counts, the host's does not).
    static func ownNamespaces(_ namespaces: [OCISpec.Namespace]) -> Set<String> {
        let procNames = ["network": "net", "mount": "mnt"]
        return Set(namespaces.filter { ns in
            guard let path = ns.path, !path.isEmpty else { return true }
            var a = stat(), b = stat()
            guard stat(path, &a) == 0, stat("/proc/self/ns/\(procNames[ns.type] ?? ns.type)", &b) == 0 else { return false }
            return a.st_ino != b.st_ino || a.st_dev != b.st_dev
        }.map(\.type))
    }

    static let ipcKeys: Set<String> = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                       "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]

    /// The writes to make, as /proc/sys paths; throws for a key that is not namespaced or not new here.
    public static func check(_ sysctl: [String: String], namespaces: Set<String>) throws -> [(path: String, value: String)] {
        try sysctl.keys.sorted().map { key in
            let value = sysctl[key]!
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard !key.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") } }) else {
                throw EngineError.invalidSpec("linux.sysctl: \"\(key)\" is not a sysctl name (dot-separated words)")
            }
            guard !value.unicodeScalars.contains(where: { $0.value < 0x20 && $0.value != 0x09 }) else {
                throw EngineError.invalidSpec("linux.sysctl: the value of \(key) holds a control character")
            }
            let namespace: String?
            if ipcKeys.contains(key) || key.hasPrefix("fs.mqueue.") { namespace = "ipc" }
            else if key.hasPrefix("net.") { namespace = "network" }
            else if key == "kernel.domainname" || key == "kernel.hostname" { namespace = "uts" }
            else { namespace = nil }
            guard let namespace else {
                throw EngineError.invalidSpec("linux.sysctl: \(key) is not namespaced: setting it would change the host (only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.domainname)")
            }
            guard namespaces.contains(namespace) else {
                throw EngineError.invalidSpec("linux.sysctl: \(key) needs a \(namespace) namespace of the container's own")
            }
            return ("/proc/sys/" + parts.joined(separator: "/"), value)
        }
    }
}
