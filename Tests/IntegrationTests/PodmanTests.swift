import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's podman (with conmon) driving minirt as its OCI runtime: a private
/// podman (own containers.conf, storage, run root and CNI config folder) inside
/// the test's network namespace, the busybox image imported into it.
@Suite(.serialized) struct PodmanTests {
    struct Podman {
        let s: Sandbox
        let dir: String

        init(_ s: Sandbox) throws {
            self.s = s
            dir = s.root + "/.podman"
            try FileManager.default.createDirectory(atPath: dir + "/cni", withIntermediateDirectories: true)
            // The runtime as the engine sees it: minirt's runc command line over a private state root
            // (podman forgets --runtime-flag on its cleanup calls, so the root is fixed here).
            let runtime = dir + "/minirt-runc"
            try "#!/bin/sh\nexec \(s.binary) oci --root \(dir)/oci \"$@\"\n".write(toFile: runtime, atomically: true, encoding: .utf8)
            chmod(runtime, 0o755)
            try """
                [containers]
                default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
                [engine]
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                runtime = "minirt"
                runtime_supports_json = ["minirt"]
                [engine.runtimes]
                minirt = ["\(runtime)"]
                [network]
                network_backend = "cni"
                network_config_dir = "\(dir)/cni"
                """.write(toFile: dir + "/containers.conf", atomically: true, encoding: .utf8)
        }

        @discardableResult
        func run(_ args: String...) throws -> Outcome {
            var env = s.environment
            env["CONTAINERS_CONF"] = dir + "/containers.conf"
            return try Sandbox.exec("/usr/bin/nsenter", ["--net=/run/netns/\(s.netns!)", "--", "/usr/bin/podman",
                                                          "--root", dir + "/storage", "--runroot", dir + "/run"] + args, env: env)
        }

        /// podman on a pseudo-terminal (script(1) provides it), for -it.
        func onTerminal(_ args: String) throws -> Outcome {
            var env = s.environment
            env["CONTAINERS_CONF"] = dir + "/containers.conf"
            let command = "/usr/bin/nsenter --net=/run/netns/\(s.netns!) -- /usr/bin/podman --root \(dir)/storage --runroot \(dir)/run \(args)"
            return try Sandbox.exec("/usr/bin/script", ["-qec", command, "/dev/null"], env: env)
        }

        /// podman's own cleanup: containers, then its storage (it unmounts its layers).
        func reset() throws {
            try run("rm", "-af")
            try run("system", "reset", "-f")
        }
    }

    @Test func podmanRunsContainersWithMinirt() throws {
        let s = try Sandbox()
        let podman = try Podman(s)
        defer { try? podman.reset() }
        let tar = podman.dir + "/busybox.tar"
        try #require(try Sandbox.exec("/bin/tar", ["-C", "\(Sandbox.images)/busybox/rootfs", "-cf", tar, "."]).status == 0)
        try #require(try podman.run("import", tar, "localhost/bb").status == 0)

        let hi = try podman.run("run", "--rm", "--network", "none", "localhost/bb", "echo", "hi")
        #expect(hi.status == 0 && hi.stdout == "hi\n", "\(hi.stdout) \(hi.stderr)")
        #expect(try podman.run("run", "--rm", "--network", "none", "localhost/bb", "sh", "-c", "exit 3").status == 3)
        #expect(try podman.run("run", "--rm", "--network", "none", "localhost/bb", "no-such-command").status == 127)

        // -it: the pty master reaches conmon through --console-socket; the container
        // opens its pty (runc's default device rules follow podman's "deny all").
        // (Once, under the whole suite's load, the output of a command that printed
        // at once and exited was lost between conmon and podman's attach while the
        // exit status arrived: the command waits a moment before it prints.)
        let tty = try podman.onTerminal("run --rm -it --network none localhost/bb sh -c 'sleep 0.5; tty; echo tty-ok; exit 6'")
        #expect(tty.status == 6 && tty.stdout.contains("/dev/pts/0") && tty.stdout.contains("tty-ok"), "\(tty.status) \(tty.stdout) \(tty.stderr)")
        let devices = try podman.run("run", "--rm", "--network", "none", "localhost/bb", "sh", "-c", "echo x > /dev/null && head -c1 /dev/urandom | wc -c")
        #expect(devices.stdout == "1\n", "\(devices.stdout) \(devices.stderr)")

        let web = try podman.run("run", "-d", "--name", "web", "-p", "18080:80", "localhost/bb", "sh", "-c",
                                 "mkdir -p /www && echo podman-on-minirt > /www/index.html && echo started && exec httpd -f -p 80 -h /www")
        try #require(web.status == 0, "\(web.stderr)")
        #expect(try s.fetch("http://127.0.0.1:18080/") == "podman-on-minirt\n")
        let exec = try podman.run("exec", "web", "cat", "/proc/1/cmdline")
        #expect(exec.status == 0 && exec.stdout.hasPrefix("httpd"), "\(exec.stdout) \(exec.stderr)")
        #expect(try podman.run("logs", "web").stdout.contains("started"))
        #expect(try podman.run("stop", "-t", "1", "web").status == 0)
        #expect(try podman.run("inspect", "-f", "{{.State.Status}}", "web").stdout.hasPrefix("exited"))
        #expect(try podman.run("rm", "web").status == 0)

        #expect(try podman.run("ps", "-aq").stdout.isEmpty)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: podman.dir + "/oci")) ?? []).filter { !$0.hasPrefix(".") }
        #expect(left.isEmpty, "minirt's oci root kept \(left)")
        try podman.reset()
        try s.finish()
    }

    /// `minirt image save` writes an OCI image layout podman loads: its config
    /// (the command) and its layer (the rootfs) arrive, and it runs (on minirt).
    @Test func podmanLoadsAnImageMinirtSaved() throws {
        let s = try Sandbox()
        let podman = try Podman(s)
        defer { try? podman.reset() }
        let archive = podman.dir + "/saved.tar"
        let saved = try Sandbox.exec(Sandbox.binary, ["--images", Sandbox.images, "image", "save", "-o", archive, "nginx-rootfs"], env: s.environment)
        try #require(saved.status == 0, "\(saved.stderr)")
        let listing = try Sandbox.exec("/bin/tar", ["-tf", archive]).lines
        #expect(listing.contains("oci-layout") && listing.contains("index.json") && listing.filter { $0.hasPrefix("blobs/sha256/") && $0.count == 13 + 64 }.count == 3, "\(listing)")
        let loaded = try podman.run("load", "-i", archive)
        try #require(loaded.status == 0, "\(loaded.stdout) \(loaded.stderr)")
        let images = try podman.run("images", "--format", "{{.Repository}}")
        #expect(images.stdout.contains("nginx-rootfs"), "\(images.stdout)")
        let cmd = try podman.run("image", "inspect", "-f", "{{json .Config.Cmd}}", "nginx-rootfs")
        #expect(cmd.stdout.contains("nginx"), "the image's command came along: \(cmd.stdout) \(cmd.stderr)")
        let ran = try podman.run("run", "--rm", "--network", "none", "nginx-rootfs", "nginx", "-v")
        #expect(ran.status == 0 && (ran.stdout + ran.stderr).contains("nginx version"), "\(ran.stdout) \(ran.stderr)")
        // And back: podman's own archives (OCI and docker's format) load into a store of minirt's.
        let store = podman.dir + "/minirt-images"
        for format in ["oci-archive", "docker-archive"] {
            let file = podman.dir + "/\(format).tar"
            let out = try podman.run("save", "--format", format, "-o", file, "nginx-rootfs")
            try #require(out.status == 0, "\(out.stderr)")
            let back = try Sandbox.exec(Sandbox.binary, ["--images", store, "image", "load", "-i", file, "--name", "back-\(format)"], env: s.environment)
            #expect(back.status == 0, "\(format): \(back.stderr)")
            let v = try s.minirt("--images", store, "run", "--rm", "--network", "none", "back-\(format)", "nginx", "-v")
            #expect((v.stdout + v.stderr).contains("nginx version"), "\(format): \(v.stdout) \(v.stderr)")
            #expect(try Sandbox.exec(Sandbox.binary, ["--images", store, "image", "inspect", "-f", "{{json .Config.Cmd}}", "back-\(format)"]).stdout.contains("nginx"))
        }
        #expect(try Sandbox.exec(Sandbox.binary, ["--images", Sandbox.images, "image", "save", "-o", podman.dir + "/x.tar", "no-such-image"], env: s.environment).status == 1)
        #expect(!FileManager.default.fileExists(atPath: podman.dir + "/x.tar"), "a failed save leaves no archive")
        #expect(!s.leftScratch("save"))
        try podman.reset()
        try s.finish()
    }
}
