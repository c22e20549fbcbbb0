import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// docker run flags beyond networking and confinement: labels (and ls --filter),
/// --stop-signal/--stop-timeout, --shm-size, --annotation, --expose, --cidfile.
@Suite struct DockerFlagsTests {
    @Test func labelsFilterAndInspect() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let file = s.root + "/.labels"
        try "# team labels\ntier=web\n\nowner=ops\n".write(toFile: file, atomically: true, encoding: .utf8)
        try #require(try s.minirt("run", "-d", "--name", "a", "--network", "none", "-l", "app=shop", "--label-file", file,
                                  "busybox", "sleep", "300").status == 0)
        try #require(try s.minirt("run", "-d", "--name", "b", "--network", "none", "--label", "app=blog", "busybox", "sleep", "300").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{json .Config.Labels}}", "a").stdout == "{\"app\":\"shop\",\"owner\":\"ops\",\"tier\":\"web\"}\n")
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--format", "{{.Names}}").stdout == "a\n")
        #expect(try s.minirt("ls", "--filter", "label=app", "--format", "{{.Names}}").lines.sorted() == ["a", "b"])
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--filter", "label=app=blog", "--format", "{{.Names}}").lines.sorted() == ["a", "b"])
        #expect(try s.minirt("ls", "--filter", "label=app=shop", "--filter", "name=b", "--format", "{{.Names}}").stdout.isEmpty)
        try s.minirt("stop", "-t", "0", "b")
        #expect(try s.minirt("ls", "--filter", "status=exited", "--format", "{{.Names}}").stdout == "b\n")
        let bad = try s.minirt("ls", "--filter", "colour=red")
        #expect(bad.status == 1 && bad.stderr.contains("invalid filter"))
        try s.minirt("rm", "-f", "a", "b")
        try s.finish()
    }

    @Test func stopSignalAndTimeout() throws {
        let s = try Sandbox(isolatedNetwork: false)
        // A shell that leaves on USR1 only: stop must send that, and not wait its 10 s.
        try #require(try s.minirt("run", "-d", "--name", "sig", "--network", "none", "--stop-signal", "USR1",
                                  "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopSignal}}", "sig").stdout == "USR1\n")
        #expect(try s.minirt("stop", "sig").status == 0)
        // 42, not 137: the shell got USR1 and left; SIGKILL after the timeout would give 137.
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "sig").stdout == "42\n")
        // --stop-timeout 1 on a process that ignores SIGTERM: SIGKILL after it, exit 137.
        try #require(try s.minirt("run", "-d", "--name", "stubborn", "--network", "none", "--stop-timeout", "1",
                                  "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopTimeout}}", "stubborn").stdout == "1\n")
        #expect(try s.minirt("stop", "stubborn").status == 0)
        #expect(try s.minirt("inspect", "-f", "{{.State.ExitCode}}", "stubborn").stdout == "137\n")
        #expect(try s.minirt("run", "--rm", "--stop-signal", "NOPE", "busybox", "true").status == 125)
        try s.minirt("rm", "sig", "stubborn")
        try s.finish()
    }

    @Test func shmAnnotationExposeAndCidfile() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let shm = try s.minirt("run", "--rm", "--network", "none", "--shm-size", "8m", "busybox", "sh", "-c", "df -k /dev/shm | tail -1")
        #expect(shm.status == 0 && shm.stdout.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == "8192", "\(shm.stdout) \(shm.stderr)")
        #expect(try s.minirt("run", "--rm", "--shm-size", "0", "busybox", "true").status == 125)
        let cid = s.root + "/.cid"
        let run = try s.minirt("run", "-d", "--name", "ann", "--network", "none", "--cidfile", cid, "--annotation", "org.example.team=ops",
                               "--expose", "7000-7001/udp", "busybox", "sleep", "300")
        try #require(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: cid, encoding: .utf8) == run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let id = try s.id(of: "ann")
        let config = try String(contentsOfFile: "\(s.root)/\(id)/config.json", encoding: .utf8)
        #expect(config.contains("\"org.example.team\":\"ops\""), "the annotation reaches the runtime spec")
        let exposed = try s.minirt("inspect", "-f", "{{json .Config.ExposedPorts}}", "ann").stdout
        #expect(exposed.contains("7000/udp") && exposed.contains("7001/udp"), "\(exposed)")
        let again = try s.minirt("run", "--rm", "--cidfile", cid, "busybox", "true")
        #expect(again.status == 125 && again.stderr.contains("container ID file found"), "\(again.stderr)")
        #expect(try s.minirt("run", "--rm", "--annotation", "org.minirt.rootfs.overlay=x", "busybox", "true").status == 125)
        try s.minirt("rm", "-f", "ann")
        unlink(cid)
        try s.finish()
    }

    /// --uts host, --ipc host, --cgroupns host: those namespaces are the host's; the default keeps each private.
    @Test func sharedNamespacesAreTheHosts() throws {
        let s = try Sandbox(isolatedNetwork: false)
        func ns(_ kind: String) -> String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")) ?? "" }
        let probe = "for n in ipc cgroup uts; do readlink /proc/self/ns/$n; done; hostname"
        let shared = try s.minirt("run", "--rm", "--network", "none", "--uts", "host", "--ipc", "host", "--cgroupns", "host", "busybox", "sh", "-c", probe)
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(shared.lines == [ns("ipc"), ns("cgroup"), ns("uts"), host], "\(shared.stdout) \(shared.stderr)")
        let own = try s.minirt("run", "--rm", "--network", "none", "busybox", "sh", "-c", probe)
        #expect(own.lines.count == 4 && !own.lines.prefix(3).contains(ns("ipc")) && !own.lines.contains(ns("uts")) && !own.lines.contains(ns("cgroup")), "\(own.stdout)")
        #expect(try s.minirt("run", "--rm", "--uts", "host", "-h", "x", "busybox", "true").stderr.contains("conflicting options"))
        #expect(try s.minirt("run", "--rm", "--ipc", "bogus", "busybox", "true").status == 125)
        try s.finish()
    }
}

/// `ls` as docker's ps: -n/--last, -l/--latest and the wider filters.
@Suite struct ListFlagsTests {
    @Test func lastLatestAndFilters() throws {
        let s = try Sandbox()
        try s.minirt("run", "--name", "one", "--network", "none", "busybox", "sh", "-c", "exit 3")
        try s.minirt("run", "--name", "two", "--network", "none", "-v", "vol:/data", "busybox", "true")
        try s.minirt("run", "-d", "--name", "three", "-p", "18093:80", "busybox", "sleep", "60")
        _ = try s.waitForPid("three")
        func names(_ args: String...) throws -> [String] { try s.minirt(["ls", "--format", "{{.Names}}"] + args).lines }
        #expect(try names("-n", "2") == ["three", "two"])
        #expect(try names("-l") == ["three"])
        #expect(try names("--filter", "exited=3") == ["one"])
        #expect(try names("-a", "--filter", "ancestor=busybox").count == 3)
        #expect(try names("--filter", "publish=80") == ["three"])
        #expect(try names("-a", "--filter", "volume=vol") == ["two"])
        #expect(try names("-a", "--filter", "before=three").sorted() == ["one", "two"])
        #expect(try names("-a", "--filter", "since=one").sorted() == ["three", "two"])
        #expect(try names("-a", "--filter", "network=none").sorted() == ["one", "two"])
        #expect(try s.minirt("ls", "--filter", "before=nope").status == 1)
        #expect(try s.minirt("ls", "--filter", "colour=red").status == 1)
        try s.minirt("rm", "-f", "one", "two", "three")
        try s.finish()
    }
}

/// docker's flags that make no sense here: taken by name, refused with the reason.
@Suite struct NotApplicableFlagsTests {
    @Test func refusedWithAReason() throws {
        let s = try Sandbox()
        for flag in ["--platform=linux/arm64", "--pull=always", "--runtime=runc", "--storage-opt=size=10G", "--volume-driver=nfs",
                     "--link-local-ip=169.254.0.5", "--gpus=all", "--isolation=hyperv", "--disable-content-trust=true"] {
            for verb in ["run", "create"] {
                let o = try s.minirt([verb, "--rm", "--network", "none", flag, "busybox", "true"])
                let name = String(flag.split(separator: "=")[0])
                #expect(o.status == 125 && o.stderr.split(separator: "\n").count == 1 && o.stderr.contains("\(name) is not supported"),
                        "\(verb) \(flag): \(o.status) \(o.stderr)")
            }
        }
        #expect(s.containerFolders().isEmpty)
        try s.finish()
    }
}
