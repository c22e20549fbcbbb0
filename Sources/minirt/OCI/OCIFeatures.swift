import ArgumentParser
import FoundationEssentials
import MinirtEngine
import MinirtKit

/// `features`: what this runtime implements, in the runtime-spec's features format.
struct OCIFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "features", _superCommandName: "oci", abstract: "Print what this runtime supports (runtime-spec features JSON).")
    @OptionGroup var global: OCIGlobalOptions

    struct Features: Encodable {
        var ociVersionMin = "1.0.0"
        var ociVersionMax = "1.0.2"
        var hooks: [String] = []
        var mountOptions = ["bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                            "private", "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "strictatime"]
        var linux = Linux()
        struct Linux: Encodable {
            var namespaces = ["cgroup", "ipc", "mount", "network", "pid", "uts"]
            var capabilities = Capabilities.held()
            var cgroup = ["v1": true, "v2": true, "systemd": false, "systemdUser": false]
            var seccomp = Seccomp()
            struct Seccomp: Encodable {
                var enabled = true
                var actions = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                               "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]
                var archs = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"]
            }
        }
    }

    func run() throws {
        try global.run { _ in
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try e.encode(Features()), as: UTF8.self))
        }
    }
}
