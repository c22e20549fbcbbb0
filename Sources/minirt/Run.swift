import ArgumentParser
import MinirtKit

struct Run: ParsableCommand {
    // Names are given explicitly everywhere: deriving them from type names costs
    // reflection at every start-up.
    // The super-command name makes the fast path (Run parsed alone, see
    // Minirt.main) skip ArgumentParser's completion-script probe, which builds
    // two more parsers by reflection: ~1.5 ms of every start.
    static let configuration = CommandConfiguration(
        commandName: "run",
        _superCommandName: "minirt",
        abstract: "Run a command in a new container.",
        discussion: """
        ROOTFS is an image name from the image store (minirt images) or the path of a
        directory holding a root filesystem. Exit status: the command's, 125 when minirt
        fails, 126 when the command cannot be invoked, 127 when it is not found.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Assign a name to the container.")
    var name: String?

    @Option(name: [.customShort("h"), .long], help: "Container host name (default: the short id).")
    var hostname: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Set an environment variable (NAME=VALUE, or NAME to copy the host's).", valueName: "env"))
    var env: [String] = []

    @Option(name: .customLong("env-file"), help: ArgumentHelp("Read environment variables from a file.", valueName: "file"))
    var envFile: [String] = []

    @Option(name: [.short, .customLong("workdir")], help: ArgumentHelp("Working directory inside the container.", valueName: "dir"))
    var workdir: String?

    @Option(help: ArgumentHelp("Overwrite the image's entrypoint (\"\" clears it).", valueName: "command"))
    var entrypoint: String?

    @Option(name: [.customLong("network"), .customLong("net")],
            help: ArgumentHelp("bridge (default), none, host, container:NAME or a network's name; again for more networks (eth1, …).", valueName: "mode"))
    var network: [String] = []

    @Option(name: [.short, .customLong("publish")], parsing: .unconditionalSingleValue, help: ArgumentHelp("Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp].", valueName: "port"))
    var publish: [String] = []

    @Flag(name: [.customShort("P"), .customLong("publish-all")], help: "Publish every port the image exposes on a free host port.")
    var publishAll = false

    @Option(help: ArgumentHelp("A DNS server for the container's resolv.conf.", valueName: "ip"))
    var dns: [String] = []

    @Option(name: .customLong("dns-search"), help: ArgumentHelp("A DNS search domain.", valueName: "domain"))
    var dnsSearch: [String] = []

    @Option(name: .customLong("dns-option"), help: ArgumentHelp("A resolv.conf option.", valueName: "option"))
    var dnsOption: [String] = []

    @Option(name: .customLong("network-alias"), help: ArgumentHelp("Another name the container answers to on its network.", valueName: "alias"))
    var networkAlias: [String] = []

    @Option(help: ArgumentHelp("The container's IPv4 address on a network of your own.", valueName: "address"))
    var ip: String?
    @Option(help: ArgumentHelp("The container's IPv6 address on a dual-stack network of your own.", valueName: "address"))
    var ip6: String?

    @Option(help: ArgumentHelp("Legacy: NAME[:ALIAS] of a running container, added to /etc/hosts.", valueName: "container"))
    var link: [String] = []

    @Option(name: .customLong("mac-address"), help: ArgumentHelp("The container's MAC address (02:42:ac:11:00:02).", valueName: "address"))
    var macAddress: String?

    @Option(name: .customLong("add-host"), help: ArgumentHelp("Add NAME:IP (or NAME:host-gateway) to /etc/hosts.", valueName: "host:ip"))
    var addHost: [String] = []

    @Flag(help: "Remove the container when it exits.")
    var rm = false

    @Flag(name: [.short, .long], help: "Run in the background under a supervisor and print the container id.")
    var detach = false

    @Option(help: ArgumentHelp("no, always, unless-stopped or on-failure[:N] (with -d).", valueName: "policy"))
    var restart = "no"

    @Flag(name: [.short, .long], help: "Keep STDIN open and pass it to the container.")
    var interactive = false

    @Flag(name: [.short, .long], help: "Allocate a pseudo-terminal.")
    var tty = false

    @Option(name: .customLong("cap-add"), help: ArgumentHelp("Add a capability (NET_ADMIN, CAP_SYS_TIME, ALL).", valueName: "cap"))
    var capAdd: [String] = []

    @Option(name: .customLong("cap-drop"), help: ArgumentHelp("Drop a capability (or ALL).", valueName: "cap"))
    var capDrop: [String] = []

    @Flag(help: "Give the container all capabilities, no seccomp filter, no device limits.")
    var privileged = false

    @Option(name: .customLong("security-opt"),
            help: ArgumentHelp("seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges[=false].", valueName: "opt"))
    var securityOpt: [String] = []

    @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only.")
    var readOnly = false

    @Option(name: .customLong("read-only-tmpfs"), help: ArgumentHelp("With --read-only, writable tmpfs on /tmp, /var/tmp and /run.", valueName: "bool"))
    var readOnlyTmpfs = true

    @Option(help: ArgumentHelp("Mount a tmpfs: PATH[:size=64m,mode=1777,...].", valueName: "path"))
    var tmpfs: [String] = []

    @Option(name: [.short, .customLong("volume")], help: ArgumentHelp("Bind a host path (/host:/container[:ro]), a named volume (NAME:/path) or an anonymous one (/path).", valueName: "bind"))
    var volume: [String] = []

    @Option(help: ArgumentHelp("type=bind,source=/host,target=/dst[,readonly] or type=tmpfs,target=/dst[,tmpfs-size=N].", valueName: "mount"))
    var mount: [String] = []

    @Option(name: .customLong("volumes-from"), help: ArgumentHelp("Mount the volumes and binds of a container: NAME[:ro|rw].", valueName: "container"))
    var volumesFrom: [String] = []

    @Option(name: [.short, .long], parsing: .unconditional, help: ArgumentHelp("Run as USER[:GROUP] (names from the image's /etc/passwd).", valueName: "user"))
    var user: String?

    @Option(name: .customLong("group-add"), help: ArgumentHelp("Add a supplementary group.", valueName: "group"))
    var groupAdd: [String] = []

    @OptionGroup var limits: LimitFlags

    @Option(help: ArgumentHelp("A namespaced kernel parameter: NAME=VALUE (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*).", valueName: "sysctl"))
    var sysctl: [String] = []

    @Option(help: ArgumentHelp("A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, ...).", valueName: "ulimit"))
    var ulimit: [String] = []

    @Option(name: .customLong("oom-score-adj"), parsing: .unconditional, help: ArgumentHelp("The OOM killer's bias, -1000 to 1000.", valueName: "n"))
    var oomScoreAdj: Int?

    @Option(help: ArgumentHelp("The container's NIS domain name.", valueName: "name"))
    var domainname: String?

    @Option(name: [.short, .customLong("label")], help: ArgumentHelp("Set a label: KEY=VALUE.", valueName: "label"))
    var label: [String] = []

    @Option(name: .customLong("label-file"), help: ArgumentHelp("Read labels from a file (KEY=VALUE lines).", valueName: "file"))
    var labelFile: [String] = []

    @Option(name: .customLong("stop-signal"), help: ArgumentHelp("The signal that stops the container (default the image's, or SIGTERM).", valueName: "signal"))
    var stopSignal: String?

    @Option(name: .customLong("stop-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds stop waits before SIGKILL (default 10).", valueName: "seconds"))
    var stopTimeout: Int?

    @Option(name: .customLong("shm-size"), help: ArgumentHelp("Size of /dev/shm (default 64m).", valueName: "bytes"))
    var shmSize: String?

    @Option(help: ArgumentHelp("An OCI annotation for the runtime spec: KEY=VALUE.", valueName: "annotation"))
    var annotation: [String] = []

    @Option(help: ArgumentHelp("Expose a port or a range without publishing it.", valueName: "port"))
    var expose: [String] = []

    @Option(help: ArgumentHelp("Write the container's id to this file (it must not exist).", valueName: "file"))
    var cidfile: String?

    @Option(help: ArgumentHelp("host: the host's UTS namespace (its hostname).", valueName: "mode"))
    var uts: String?

    @Option(help: ArgumentHelp("host, private, shareable or container:NAME: the IPC namespace.", valueName: "mode"))
    var ipc: String?

    @Option(help: ArgumentHelp("host or container:NAME: the PID namespace (default: its own).", valueName: "mode"))
    var pid: String?

    @Option(help: ArgumentHelp("host or private (default): the cgroup namespace.", valueName: "mode"))
    var cgroupns: String?

    @Option(name: .customLong("health-cmd"), help: ArgumentHelp("A shell command that checks the container's health (exit 0: healthy).", valueName: "command"))
    var healthCmd: String?

    @Option(name: .customLong("health-interval"), help: ArgumentHelp("Time between checks (default 30s).", valueName: "duration"))
    var healthInterval: String?

    @Option(name: .customLong("health-timeout"), help: ArgumentHelp("Longest a check may take (default 30s).", valueName: "duration"))
    var healthTimeout: String?

    @Option(name: .customLong("health-start-period"), help: ArgumentHelp("Start-up time during which failures do not count (default 0s).", valueName: "duration"))
    var healthStartPeriod: String?

    @Option(name: .customLong("health-start-interval"), help: ArgumentHelp("Time between checks during the start period (default 5s).", valueName: "duration"))
    var healthStartInterval: String?

    @Option(name: .customLong("health-retries"), parsing: .unconditional, help: ArgumentHelp("Failures in a row that make it unhealthy (default 3).", valueName: "n"))
    var healthRetries: Int?

    @Flag(name: .customLong("no-healthcheck"), help: "Disable the image's health check.")
    var noHealthcheck = false

    @Option(name: .customLong("log-driver"), help: ArgumentHelp("json-file (default), local (json-file, rotated 5 x 20m) or none.", valueName: "driver"))
    var logDriver: String?

    @Option(name: .customLong("log-opt"), help: ArgumentHelp("A log option: max-size=10m, max-file=3.", valueName: "opt"))
    var logOpt: [String] = []

    @Option(name: [.short, .customLong("attach")], help: ArgumentHelp("Show only these streams: stdin, stdout, stderr (repeatable).", valueName: "stream"))
    var attach: [String] = []

    @Option(name: .customLong("detach-keys"), help: ArgumentHelp("The keys that detach `minirt attach` from it (default ctrl-p,ctrl-q).", valueName: "keys"))
    var detachKeys: String?

    @Option(name: .customLong("sig-proxy"), help: ArgumentHelp("Pass the signals minirt run gets to the container (default true).", valueName: "bool"))
    var sigProxy = true

    @Flag(name: [.short, .long], help: "Suppress pull output (minirt pulls nothing: accepted for docker's scripts).")
    var quiet = false

    @Option(help: ArgumentHelp("host (the default) or auto: container ids 0-65535 are host ids of its own (podman's auto; ranges from /etc/subuid's minirt entry).", valueName: "mode"))
    var userns: String?

    @Option(name: .customLong("cgroup-parent"), help: ArgumentHelp("The cgroup the container's cgroup goes under (default /minirt).", valueName: "path"))
    var cgroupParent: String?

    @Flag(name: .customLong("init"), help: "Run minirt-init as PID 1: it forwards signals to the command and reaps orphans.")
    var runInit = false

    @Option(help: ArgumentHelp("Add a host device: HOST[:CONTAINER[:PERMISSIONS]] (permissions some of rwm).", valueName: "device"))
    var device: [String] = []

    @Option(name: .customLong("device-cgroup-rule"), help: ArgumentHelp("Allow devices in the cgroup: 'c|b|a MAJOR:MINOR rwm' (* for any number).", valueName: "rule"))
    var deviceCgroupRule: [String] = []

    @Argument(help: ArgumentHelp("Image name or rootfs directory.", valueName: "rootfs"))
    var image: String

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Command and arguments (default: the image's).", valueName: "command"))
    var command: [String] = []

    func run() throws {
        try Self.execute({ try options() }, restart: restart, detach: detach, stores: global.stores)
    }

    /// What `run` does with its parsed flags, however they were parsed (see QuickRun).
    static func execute(_ options: () throws -> RunOptions, restart: String, detach: Bool, stores: StorePaths) throws {
        let code: Int32
        do {
            let o = try options()
            let policy = try RestartPolicyParser.parse(restart)
            if detach && !o.attach.isEmpty { throw RunError.invalid("conflicting options: -a and -d: a detached container shows no stream") }
            if detach {
                let tools = try Executables.locate()
                print(try stores.containers().runDetached(o, restart: policy, minirt: tools.minirt, supervisor: tools.supervisor))
                return
            }
            if policy.name != "no" {
                throw RunError.invalid("--restart \(restart) needs -d: a supervisor carries out restart policies")
            }
            code = try stores.containers().run(o)
        } catch {
            throw fail(error, defaultCode: 125)
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// The flags as RunOptions (`create` takes the same ones).
    func options() throws -> RunOptions {
        var o = RunOptions(image: image)
        o.command = command.first == "--" ? Array(command.dropFirst()) : command
        o.name = name
        o.hostname = hostname
        o.env = env
        o.envFiles = envFile
        o.workdir = workdir
        o.entrypoint = entrypoint
        o.network = network.first ?? "bridge"
        o.moreNetworks = Array(network.dropFirst())
        o.ip6 = ip6
        o.publish = publish
        o.publishAll = publishAll
        o.dns = dns
        o.dnsSearch = dnsSearch
        o.dnsOptions = dnsOption
        o.addHosts = addHost
        o.networkAliases = networkAlias
        o.ip = ip
        o.links = link
        o.macAddress = macAddress
        o.autoRemove = rm
        o.interactive = interactive
        o.tty = tty
        var c = ConfinementOptions()
        c.capAdd = capAdd
        c.capDrop = capDrop
        c.privileged = privileged
        c.securityOpts = securityOpt
        c.readOnly = readOnly
        c.readOnlyTmpfs = readOnlyTmpfs
        c.tmpfs = tmpfs
        c.volumes = volume
        c.mounts = mount
        c.volumesFrom = volumesFrom
        c.cgroupParent = cgroupParent
        c.user = user
        c.groupAdd = groupAdd
        c.devices = device
        c.deviceCgroupRules = deviceCgroupRule
        limits.apply(to: &c)
        o.confinement = c
        o.sysctls = sysctl
        o.ulimits = ulimit
        o.oomScoreAdj = oomScoreAdj
        o.domainname = domainname
        o.stopSignal = stopSignal
        o.stopTimeout = stopTimeout
        o.shmSize = shmSize
        o.annotations = annotation
        o.expose = expose
        o.labels = label
        o.labelFiles = labelFile
        o.uts = uts
        o.ipc = ipc
        o.pid = pid
        o.cgroupns = cgroupns
        o.cidfile = cidfile
        o.healthCmd = healthCmd
        o.healthInterval = healthInterval
        o.healthTimeout = healthTimeout
        o.healthStartPeriod = healthStartPeriod
        o.healthStartInterval = healthStartInterval
        o.healthRetries = healthRetries
        o.noHealthcheck = noHealthcheck
        o.logDriver = logDriver
        o.logOptions = logOpt
        o.attach = attach
        o.sigProxy = sigProxy
        o.detachKeys = detachKeys
        o.userns = userns
        if runInit { o.initBinary = try Executables.locate().initBinary }
        return o
    }
}

/// docker's run/create flags that mean nothing for a single-host runtime
/// without a registry. They are not declared (each declared option costs every
/// start its reflection): ArgumentParser's "unknown option" for one of them is
/// turned into this refusal, so a docker script fails on it clearly.
enum NotApplicableFlags {
    static let reasons: [String: String] = [
        "--platform": "minirt runs rootfs directories of this host's architecture; it pulls and emulates nothing",
        "--pull": "minirt has no registry: images come from rootfs-images/ or minirt image import",
        "--runtime": "minirt is the runtime; engines choose it, not the other way round",
        "--storage-opt": "the writable layer is a plain overlay upper directory with no per-container size option",
        "--volume-driver": "named volumes have the local driver only",
        "--link-local-ip": "CNI networks here give addresses only from their own subnets",
        "--gpus": "minirt passes no GPUs",
        "--isolation": "Windows containers' isolation does not exist on Linux",
        "--disable-content-trust": "minirt verifies no image signatures: it pulls nothing",
    ]

    /// The refusal for ArgumentParser's message about an unknown option, if it is one of these.
    static func refusal(for message: String) -> String? {
        guard let open = message.firstRange(of: "Unknown option '"), let close = message[open.upperBound...].firstIndex(of: "'") else { return nil }
        let flag = String(message[open.upperBound..<close]).split(separator: "=").first.map(String.init) ?? ""
        return reasons[flag].map { "\(flag) is not supported: \($0)" }
    }
}

/// `minirt create`: docker's create, with run's flags: the container is made
/// (folder, spec, name, `ls -a` shows it Created) and `minirt start` runs it.
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a container without starting it (minirt start runs it).")
    @OptionGroup var flags: Run

    func run() throws {
        do {
            guard !flags.detach else { throw RunError.invalid("create takes no -d: the container starts detached with minirt start") }
            let policy = try RestartPolicyParser.parse(flags.restart)
            print(try flags.global.containers().create(try flags.options(), restart: policy))
        } catch {
            throw fail(error, defaultCode: 125)
        }
    }
}
