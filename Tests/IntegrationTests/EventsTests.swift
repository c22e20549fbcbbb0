import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `minirt events`: what minirt processes record, followed live without a
/// daemon, read back with --since/--until and filtered; concurrent writers
/// never interleave a line.
@Suite struct EventsTests {
    @Test func lifecycleIsFollowedLiveAndReadBack() throws {
        let s = try Sandbox(isolatedNetwork: true)
        let out = s.root + "/.events"
        FileManager.default.createFile(atPath: out, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let follower = try s.start(["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"], stdout: handle)
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) }; follower.waitUntilExit() }
        // The follower shows only what happens after it started: give it a moment to open the journal.
        usleep(300_000)
        #expect(try s.minirt("run", "--rm", "--name", "e1", "busybox", "sh", "-c", "exit 3").status == 3)
        try #require(try s.minirt("run", "-d", "--name", "e2", "--network", "none", "busybox", "sleep", "300").status == 0)
        try s.minirt("pause", "e2")
        try s.minirt("unpause", "e2")
        try s.minirt("rename", "e2", "e3")
        try s.minirt("exec", "e3", "true")
        try s.minirt("kill", "e3")
        #expect(try s.minirt("wait", "e3").stdout == "137\n")
        try s.minirt("rm", "e3")
        let expected = [
            "container create e1", "network connect bridge", "container start e1", "container die e1",
            "network disconnect bridge", "container destroy e1",
            "container create e2", "container start e2", "container pause e2", "container unpause e2",
            "container rename e3", "container exec_start: true e3", "container exec_die e3",
            "container kill e3", "container die e3", "container destroy e3",
        ]
        var lines: [String] = []
        for _ in 0..<100 where lines.count < expected.count {
            usleep(50_000)
            lines = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        }
        #expect(lines == expected)
        kill(follower.processIdentifier, SIGTERM)

        // Read back: the die event carries the exit code; --until ends the command.
        let dies = try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "event=die", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
        #expect(dies.status == 0 && dies.lines == ["e1 3", "e3 137"], "\(dies.stdout) \(dies.stderr)")
        let json = try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "container=e1", "--filter", "type=container", "--format", "json")
        #expect(json.lines.count == 4 && json.lines.allSatisfy { $0.hasPrefix("{\"Action\":") && $0.contains("\"scope\":\"local\"") }, "\(json.stdout)")
        let plain = try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "event=create")
        #expect(plain.lines.count == 2 && plain.lines[0].contains(" container create ") && plain.lines[0].hasSuffix("(image=busybox, name=e1)"), "\(plain.stdout)")
        // --until 2m is two minutes ago, before --since 1m: nothing.
        #expect(try s.minirt("events", "--since", "1m", "--until", "2m", "--filter", "event=create").stdout.isEmpty)
        #expect(try s.minirt("events", "--since", "0s", "--until", "0s").stdout.isEmpty)
        for bad in [["--since", "yesterday"], ["--filter", "colour=red"], ["--until", "1x"]] {
            let r = try s.minirt(["events"] + bad)
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1, "\(bad) \(r.stderr)")
        }
        try s.finish()
    }

    /// Sixteen concurrent writers (eight runs at once): every line parses, each run's four events are there.
    @Test func concurrentWritersKeepWholeLines() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let runs = try (0..<8).map { i in try s.start(["run", "--rm", "--network", "none", "--name", "p\(i)", "busybox", "true"]) }
        for r in runs { r.waitUntilExit() }
        let json = try s.minirt("events", "--since", "5m", "--until", "0s", "--format", "json")
        let lines = json.lines
        #expect(lines.count == 32 && lines.allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") }, "\(json.stdout)")
        for i in 0..<8 {
            let names = try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "container=p\(i)", "--format", "{{.Action}}").lines
            #expect(names == ["create", "start", "die", "destroy"], "p\(i): \(names)")
        }
        try s.finish()
    }

    /// Volumes and images have their events too (docker's create/destroy, import/tag/untag/delete/save/load, commit).
    @Test func volumesAndImagesAreRecorded() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.images"
        try s.minirt("volume", "create", "v1")
        try s.minirt("volume", "rm", "v1")
        try #require(try s.minirt("run", "--name", "anon", "--network", "none", "-v", "/scratch", "busybox", "true").status == 0)
        let anonymous = try s.minirt("volume", "ls", "-q").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try s.minirt("rm", "-v", "anon")
        try #require(try s.minirt("--images", store, "image", "import", Sandbox.images + "/busybox", "imp").status == 0)
        try s.minirt("--images", store, "image", "tag", "imp", "imp2")
        try s.minirt("--images", store, "image", "rm", "imp2")
        try s.minirt("--images", store, "image", "save", "-o", s.root + "/.imp.tar", "imp")
        try s.minirt("--images", store, "image", "rm", "imp")
        try s.minirt("--images", store, "image", "load", "-i", s.root + "/.imp.tar")
        try s.minirt("--images", store, "image", "rm", "imp")
        func events(_ type: String) throws -> [String] {
            try s.minirt("events", "--since", "5m", "--until", "0s", "--filter", "type=" + type, "--format", "{{.Action}} {{.Actor.ID}}").lines
        }
        #expect(try events("volume") == ["create v1", "destroy v1", "create \(anonymous)", "destroy \(anonymous)"])
        #expect(try events("image") == ["import imp", "tag imp2", "untag imp2", "save imp", "delete imp", "load imp", "delete imp"])
        try s.finish()
    }
}
