import Testing
@testable import MinirtKit
import MinirtEngine
import MinirtState

@Suite struct RunPlanTests {
    func image(cmd: [String]? = ["sh"], entrypoint: [String]? = nil, env: [String]? = nil, workdir: String? = nil) -> Image {
        var c = ImageConfig()
        c.Cmd = cmd
        c.Entrypoint = entrypoint
        c.Env = env
        c.WorkingDir = workdir
        return Image(name: "img", folder: "/images/img", rootfs: "/images/img/rootfs", config: c)
    }

    let id = String(repeating: "ab", count: 32)

    func plan(_ o: RunOptions, _ img: Image? = nil, host: [String: String] = [:]) throws -> RunPlan {
        try RunPlan.make(o, image: img ?? image(), id: id, name: "n", directory: "/state/\(id)",
                         hostEnv: host, hostHostname: "thehost", readFile: { _ in "A=1\n# comment\n\nB\n" })
    }

    @Test func initRunsTheCommandAsItsChild() throws {
        var o = RunOptions(image: "img")
        o.command = ["sleep", "1"]
        o.initBinary = "/bin/sh" // any executable: the plan checks it exists
        o.confinement.volumes = ["/sbin:/sbin"]
        let p = try plan(o)
        #expect(p.spec.process?.args == ["/sbin/minirt-init", "--", "sleep", "1"])
        // inspect keeps the user's command; the init is last among the mounts (no volume hides it) and read-only.
        #expect(p.record.path == "sleep" && p.record.hostConfig.initProcess == true)
        #expect(p.spec.mounts?.last == OCISpec.Mount(destination: "/sbin/minirt-init", type: "bind", source: "/bin/sh",
                                                     options: ["bind", "ro", "nosuid", "nodev", "rprivate"]))
        o.initBinary = "/nonexistent/minirt-init"
        #expect(throws: RunError.self) { try plan(o) }
        #expect(try plan(RunOptions(image: "img")).record.hostConfig.initProcess == nil)
    }

    @Test func commandComesFromImageUnlessGiven() throws {
        #expect(try plan(RunOptions(image: "img")).spec.process?.args == ["sh"])
        var o = RunOptions(image: "img")
        o.command = ["echo", "hi"]
        let p = try plan(o, image(cmd: ["sh"], entrypoint: ["/entry"]))
        #expect(p.spec.process?.args == ["/entry", "echo", "hi"])
        #expect(p.record.path == "/entry")
        #expect(p.record.args == ["echo", "hi"])
    }

    @Test func entrypointFlagReplacesImageEntrypointAndCmd() throws {
        var o = RunOptions(image: "img")
        o.entrypoint = "/bin/date"
        #expect(try plan(o, image(cmd: ["x"], entrypoint: ["/e"])).spec.process?.args == ["/bin/date"])
        o.entrypoint = ""
        o.command = ["ls"]
        #expect(try plan(o, image(cmd: ["x"], entrypoint: ["/e"])).spec.process?.args == ["ls"])
    }

    @Test func noCommandIsAnError() {
        #expect(throws: RunError.noCommand("img")) { try plan(RunOptions(image: "img"), image(cmd: nil)) }
    }

    @Test func environmentMergesLikeDocker() throws {
        var o = RunOptions(image: "img")
        o.env = ["FOO=bar", "HOME_COPY", "UNSET", "X=override"]
        o.envFiles = ["f"]
        o.tty = true
        let p = try plan(o, image(env: ["X=image", "PATH=/bin"]), host: ["HOME_COPY": "/root", "B": "fromhost"])
        let env = p.spec.process?.env ?? []
        #expect(env.first == "HOSTNAME=abababababab")
        #expect(env.contains("FOO=bar"))
        #expect(env.contains("HOME_COPY=/root"))
        #expect(!env.contains { $0.hasPrefix("UNSET") })
        #expect(env.contains("X=override") && !env.contains("X=image"))
        #expect(env.contains("PATH=/bin") && !env.contains(RunPlan.defaultPath))
        #expect(env.contains("TERM=xterm"))
        #expect(env.contains("A=1") && env.contains("B=fromhost"))
        #expect(p.record.config.env.contains("FOO=bar"))
    }

    @Test func defaultPathWhenImageHasNone() throws {
        #expect(try plan(RunOptions(image: "img")).spec.process?.env?.contains(RunPlan.defaultPath) == true)
    }

    @Test func badEnvironmentIsRejected() {
        var o = RunOptions(image: "img")
        o.env = ["=x"]
        #expect(throws: RunError.self) { try plan(o) }
        o.env = ["A B=x"]
        #expect(throws: RunError.self) { try plan(o) }
    }

    @Test func namespacesFollowNetworkChoice() throws {
        func plan(_ c: NetworkChoice) throws -> RunPlan {
            try RunPlan.make(RunOptions(image: "img"), image: image(), id: id, name: "n", directory: "/state/\(id)",
                             network: c, hostEnv: [:], hostHostname: "thehost")
        }
        let none = try plan(.none)
        #expect(Set(none.spec.linux?.namespaces?.map(\.type) ?? []) == ["pid", "ipc", "uts", "mount", "cgroup", "network"])
        #expect(none.spec.linux?.namespaces?.first { $0.type == "network" }?.path == nil)
        let host = try plan(.host)
        #expect((host.spec.linux?.namespaces?.map(\.type) ?? []).contains("network") == false)
        #expect(host.spec.hostname == "thehost")
        let bridge = try plan(.cni(name: "bridge", netns: "/var/run/netns/minirt-x"))
        #expect(bridge.spec.linux?.namespaces?.first { $0.type == "network" }?.path == "/var/run/netns/minirt-x")
        #expect(bridge.record.hostConfig.networkMode == "bridge")
        #expect(try plan(.container(id: "abc", netns: "/proc/9/ns/net")).record.hostConfig.networkMode == "container:abc")
        // The DNS files are minirt's, bound over the image's.
        let binds = bridge.spec.mounts?.filter { $0.type == "bind" }.map(\.destination)
        #expect(binds == ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"])
    }

    @Test func networkModesParse() throws {
        #expect(try NetworkMode("bridge") == .cni("bridge"))
        #expect(try NetworkMode("none") == NetworkMode.none)
        #expect(try NetworkMode("host") == .host)
        #expect(try NetworkMode("container:web") == .container("web"))
        #expect(try NetworkMode("mynet") == .cni("mynet"))
        #expect(throws: RunError.self) { try NetworkMode("container:") }
        #expect(throws: RunError.unknownNetwork("../x")) { try NetworkMode("../x") }
    }

    @Test func hostnameWorkdirAndOverlay() throws {
        var o = RunOptions(image: "img")
        o.hostname = "box"
        o.workdir = "/srv"
        let p = try plan(o, image(workdir: "/app"))
        #expect(p.spec.hostname == "box")
        #expect(p.spec.process?.cwd == "/srv")
        #expect(try plan(RunOptions(image: "img"), image(workdir: "/app")).spec.process?.cwd == "/app")
        #expect(p.spec.root?.path == "/state/\(id)/rootfs")
        // The writable layer is the first mount, an overlay at "/" (runc 1.1.5 takes it too).
        #expect(p.spec.mounts?.first == OCISpec.rootOverlay(lower: "/images/img/rootfs", upper: "/state/\(id)/upper", work: "/state/\(id)/work"))
        #expect(p.spec.rootOverlayData == "lowerdir=/images/img/rootfs,upperdir=/state/\(id)/upper,workdir=/state/\(id)/work")
        #expect(p.spec.annotations == nil)
        o.workdir = "relative"
        #expect(throws: RunError.self) { try plan(o) }
    }
}
