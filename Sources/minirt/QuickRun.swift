import ArgumentParser
import MinirtKit

/// `run`'s everyday flags read without ArgumentParser. Its parse of `Run` builds
/// every one of run's ~100 flags by reflection before looking at a single
/// argument: a fifth of `minirt run --rm busybox true` (bench/run). A command
/// line of the flags below takes a table lookup each instead. Anything else —
/// another flag, a value starting with `-`, a single-valued flag given twice,
/// `--flag=value` on a flag, `--name=` with nothing after it, a `--` before the
/// image, help — is not read here: `nil`,
/// and ArgumentParser parses as it always did, so it stays the one authority on
/// errors, help and every rarer flag. The defaults are RunOptions' own.
///
/// With MINIRT_PARSE_CHECK set (the integration tests set it) each quick parse
/// is compared with ArgumentParser's, and a difference fails the command.
struct QuickRun {
    var options: RunOptions
    var restart = "no"
    var detach = false
    var stores = StorePaths()

    private enum Kind: Sendable {
        case flag(@Sendable (inout QuickRun) -> Void)
        case value(@Sendable (inout QuickRun, String) -> Void)
        /// Repeatable: each occurrence adds a value.
        case values(@Sendable (inout QuickRun, String) -> Void)
    }

    /// Short flags that combine (`-it`, `-dit`).
    private static let combinable: Set<Character> = ["d", "i", "t", "P", "q"]

    private static let table: [String: Kind] = {
        var t: [String: Kind] = [:]
        func add(_ names: [String], _ kind: Kind) { for n in names { t[n] = kind } }
        // Global flags (GlobalOptions).
        add(["--root"], .value { $0.stores.root = $1 })
        add(["--images"], .value { $0.stores.images = $1 })
        add(["--cni-config"], .value { $0.stores.cniConfig = $1 })
        add(["--cni-path"], .value { $0.stores.cniPath = $1 })
        // Flags.
        add(["--rm"], .flag { $0.options.autoRemove = true })
        add(["-d", "--detach"], .flag { $0.detach = true })
        add(["-i", "--interactive"], .flag { $0.options.interactive = true })
        add(["-t", "--tty"], .flag { $0.options.tty = true })
        add(["-P", "--publish-all"], .flag { $0.options.publishAll = true })
        add(["-q", "--quiet"], .flag { _ in })
        add(["--privileged"], .flag { $0.options.confinement.privileged = true })
        add(["--read-only"], .flag { $0.options.confinement.readOnly = true })
        add(["--no-healthcheck"], .flag { $0.options.noHealthcheck = true })
        // Single values.
        add(["--name"], .value { $0.options.name = $1 })
        // Not -h: it is also a help request, so `run -h NAME` always goes the whole tree's way (Minirt.treeArguments).
        add(["--hostname"], .value { $0.options.hostname = $1 })
        add(["-w", "--workdir"], .value { $0.options.workdir = $1 })
        add(["--entrypoint"], .value { $0.options.entrypoint = $1 })
        add(["-u", "--user"], .value { $0.options.confinement.user = $1 })
        add(["--restart"], .value { $0.restart = $1 })
        add(["--ip"], .value { $0.options.ip = $1 })
        add(["--ip6"], .value { $0.options.ip6 = $1 })
        add(["--mac-address"], .value { $0.options.macAddress = $1 })
        add(["--stop-signal"], .value { $0.options.stopSignal = $1 })
        add(["--cidfile"], .value { $0.options.cidfile = $1 })
        add(["--cgroup-parent"], .value { $0.options.confinement.cgroupParent = $1 })
        add(["--log-driver"], .value { $0.options.logDriver = $1 })
        add(["-m", "--memory"], .value { $0.options.confinement.memory = $1 })
        add(["--cpus"], .value { $0.options.confinement.cpus = $1 })
        add(["--shm-size"], .value { $0.options.shmSize = $1 })
        // Repeatable values.
        add(["-e", "--env"], .values { $0.options.env.append($1) })
        add(["--env-file"], .values { $0.options.envFiles.append($1) })
        add(["--network", "--net"], .values { $0.networks.append($1) })
        add(["-p", "--publish"], .values { $0.options.publish.append($1) })
        add(["-v", "--volume"], .values { $0.options.confinement.volumes.append($1) })
        add(["--mount"], .values { $0.options.confinement.mounts.append($1) })
        add(["--tmpfs"], .values { $0.options.confinement.tmpfs.append($1) })
        add(["--dns"], .values { $0.options.dns.append($1) })
        add(["--dns-search"], .values { $0.options.dnsSearch.append($1) })
        add(["--network-alias"], .values { $0.options.networkAliases.append($1) })
        add(["--add-host"], .values { $0.options.addHosts.append($1) })
        add(["--cap-add"], .values { $0.options.confinement.capAdd.append($1) })
        add(["--cap-drop"], .values { $0.options.confinement.capDrop.append($1) })
        add(["--security-opt"], .values { $0.options.confinement.securityOpts.append($1) })
        add(["-l", "--label"], .values { $0.options.labels.append($1) })
        add(["--log-opt"], .values { $0.options.logOptions.append($1) })
        add(["-a", "--attach"], .values { $0.options.attach.append($1) })
        add(["--sysctl"], .values { $0.options.sysctls.append($1) })
        add(["--ulimit"], .values { $0.options.ulimits.append($1) })
        add(["--device"], .values { $0.options.confinement.devices.append($1) })
        return t
    }()

    private var networks: [String] = []

    /// `run`'s arguments (after the verb), or nil for ArgumentParser to parse.
    init?(_ args: [String]) {
        options = RunOptions(image: "")
        var given = Set<String>()
        var i = 0
        func take(_ name: String, _ kind: Kind, value inline: String?) -> Bool {
            switch kind {
            case .flag(let set):
                guard inline == nil, given.insert(name).inserted else { return false }
                set(&self)
            case .value(let set), .values(let set):
                if case .value = kind, !given.insert(name).inserted { return false }
                let value: String
                if let inline { value = inline } else {
                    i += 1
                    guard i < args.count else { return false }
                    value = args[i]
                }
                // ArgumentParser refuses `--name=` (an empty value after '='), and reads
                // a next argument that starts with '-' as a flag, not a value.
                guard !value.hasPrefix("-"), inline != "" else { return false }
                set(&self, value)
            }
            return true
        }
        while i < args.count {
            let arg = args[i]
            guard arg.hasPrefix("-") else { break }
            if arg.hasPrefix("--") {
                let parts = arg.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                guard let kind = Self.table[name] else { return nil }
                // One name per flag, whichever spelling was used (-d and --detach).
                guard take(Self.canonical(name), kind, value: parts.count == 2 ? String(parts[1]) : nil) else { return nil }
            } else if arg.count == 2 {
                guard let kind = Self.table[arg], take(Self.canonical(arg), kind, value: nil) else { return nil }
            } else {
                // -it: only flags combine here; -eFOO, -e=FOO and a lone - go to ArgumentParser.
                guard arg.count > 2, arg.dropFirst().allSatisfy(Self.combinable.contains) else { return nil }
                for c in arg.dropFirst() {
                    guard let kind = Self.table["-\(c)"], take(Self.canonical("-\(c)"), kind, value: nil) else { return nil }
                }
            }
            i += 1
        }
        guard i < args.count, args[i] != "--" else { return nil }
        options.image = args[i]
        let command = Array(args[(i + 1)...])
        options.command = command.first == "--" ? Array(command.dropFirst()) : command
        if let first = networks.first {
            options.network = first
            options.moreNetworks = Array(networks.dropFirst())
        }
    }

    /// Short and long spellings of a flag count as one when checking for repeats.
    private static func canonical(_ name: String) -> String {
        switch name {
        case "-d": "--detach"
        case "-i": "--interactive"
        case "-t": "--tty"
        case "-P": "--publish-all"
        case "-q": "--quiet"
        case "-w": "--workdir"
        case "-u": "--user"
        case "-m": "--memory"
        default: name
        }
    }

    func run() throws {
        try Run.execute({ options }, restart: restart, detach: detach, stores: stores)
    }

    /// The check the tests turn on: ArgumentParser's reading of the same arguments.
    /// nil when they agree, else what differs.
    func difference(from args: [String]) -> String? {
        let parsed: Run
        do {
            guard let run = try Run.parseAsRoot(args) as? Run else { return "ArgumentParser did not give a Run" }
            parsed = run
        } catch {
            return "ArgumentParser refused them: \(Run.message(for: error))"
        }
        guard let theirs = try? parsed.options() else { return "Run.options() failed" }
        let a = "\(String(reflecting: options)) restart=\(restart) detach=\(detach) \(stores)"
        let b = "\(String(reflecting: theirs)) restart=\(parsed.restart) detach=\(parsed.detach) \(parsed.global.stores)"
        return a == b ? nil : "quick: \(a)\nArgumentParser: \(b)"
    }
}
