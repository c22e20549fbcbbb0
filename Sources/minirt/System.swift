import ArgumentParser
import FoundationEssentials
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct System: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system", abstract: "Housekeeping: prune stopped containers, collect what crashes left.",
        subcommands: [SystemPrune.self, SystemGC.self, SystemInfo.self, SystemDF.self])
}

/// `system df`: docker's disk usage table (sizes read now, from the folders).
struct SystemDF: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "df", abstract: "Show the disk space images, containers and volumes use.")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("table, json (one object a line) or a Go template such as '{{.Type}} {{.Size}}'.", valueName: "format"))
    var format = "table"
    func run() throws {
        do {
            let rows = global.containers().diskUsage()
            try printRows(rows, format: format) { [DiskUsageRow.headers] + rows.map(\.cells) }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

/// docker's `container` group: the same verbs under `minirt container VERB`,
/// and `container prune`.
struct ContainerGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container", abstract: "Manage containers (the same verbs as at top level).",
        subcommands: [Run.self, Create.self, Start.self, Stop.self, Restart.self, Kill.self, Wait.self, Remove.self, List.self,
                      Inspect.self, Logs.self, Exec.self, Port.self, Stats.self, Pause.self, Unpause.self, Rename.self, Top.self,
                      Diff.self, Export.self, Copy.self, Update.self, Attach.self, Commit.self, SystemPrune.self])
}

/// `version`: what this minirt is, in docker's words where they apply.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Show minirt's version and what it runs on.")
    @OptionGroup var global: GlobalOptions
    func run() throws {
        var u = utsname()
        uname(&u)
        func text<T>(_ v: T) -> String { withUnsafeBytes(of: v) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        print("""
            Client: minirt
             Version:      \(Minirt.version)
             OCI runtime:  minirt-runc (runtime-spec 1.0.2)
             OS/Arch:      linux/\(text(u.machine) == "x86_64" ? "amd64" : text(u.machine))
             Kernel:       \(text(u.release))
            """)
    }
}

/// `system info` (also `info`): counts, the storage and cgroup setup, the kernel.
struct SystemInfo: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show what minirt has and what this host gives it.")
    @OptionGroup var global: GlobalOptions
    func run() throws {
        let c = global.containers()
        let all = c.list(all: true)
        let running = all.filter { $0.state.status == .running }.count
        let paused = all.filter { Containers.isPaused($0) }.count
        var u = utsname()
        uname(&u)
        func text<T>(_ v: T) -> String { withUnsafeBytes(of: v) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        let cgroupVersion = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1"
        print("""
            Containers: \(all.count)
             Running: \(running - paused)
             Paused: \(paused)
             Stopped: \(all.count - running)
            Images: \(c.images.list().count)
            Storage Driver: overlay2 (a writable layer per container over the image's rootfs)
            Cgroup Driver: cgroupfs
            Cgroup Version: \(cgroupVersion)
            Runtimes: minirt-runc
            Security Options: seccomp (docker's default profile), no-new-privileges, capabilities
            Kernel Version: \(text(u.release))
            Architecture: \(text(u.machine))
            CPUs: \(ProcessInfo.processInfo.activeProcessorCount)
            Total Memory: \(ProcessInfo.processInfo.physicalMemory)
            Minirt Root Dir: \(c.store.root)
            """)
    }
}

struct SystemPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove all stopped containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Do not ask (minirt never asks; accepted for docker's sake).") var force = false

    func run() throws {
        let removed = global.containers().prune()
        print("Deleted Containers:")
        removed.forEach { print($0) }
        print("\nTotal reclaimed containers: \(removed.count)")
    }
}

struct SystemGC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Release what crashed minirt processes left: attachments, names, leases, DNS entries.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let fixed = global.containers().gc()
        fixed.forEach { print($0) }
        if fixed.isEmpty { print("nothing to collect") }
    }
}

/// `info`, docker's short form of `system info`.
struct InfoAlias: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show what minirt has and what this host gives it (system info).")
    @OptionGroup var global: GlobalOptions
    func run() throws {
        var info = SystemInfo()
        info.global = global
        try info.run()
    }
}
