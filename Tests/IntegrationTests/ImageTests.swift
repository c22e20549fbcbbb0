import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The images the README and the lessons use, run for real.
@Suite struct ImageTests {
    @Test func nginxAnswersOnItsPublishedPort() throws {
        let s = try Sandbox()
        #expect(FileManager.default.fileExists(atPath: "\(Sandbox.images)/nginx-rootfs/rootfs/usr/sbin/nginx"),
                "build it: rootfs-images/build rootfs-images/nginx-rootfs")
        let log = Pipe()
        let p = try s.start(["run", "--rm", "--name", "web", "-p", "8080:80", "nginx-rootfs"], stdout: log, stderr: log)
        _ = try s.waitForPid("web")
        _ = try s.id(of: "web")
        // The test's namespace plays the host.
        let page = try s.fetch("http://127.0.0.1:8080/")
        let facts = try s.minirt("inspect", "-f", "{{.Config.Hostname}} {{.NetworkSettings.IPAddress}}", "web").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(facts.count == 2)
        if facts.count == 2 {
            #expect(page == "Hello from minirt: container \(facts[0]), address \(facts[1])\n")
        }
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopSignal}} {{json .Config.ExposedPorts}}", "web").stdout == "SIGQUIT {\"80/tcp\":{}}\n")
        try s.minirt("rm", "-f", "web")
        p.waitUntilExit()
        let out = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(out.contains("\"GET / HTTP/1.1\" 200"), "nginx logs to the container's stdout: \(out)")
        try s.finish()
    }

    @Test func publishAllPublishesTheImagesExposedPorts() throws {
        let s = try Sandbox()
        let p = try s.start(["run", "--rm", "--name", "webp", "-P", "nginx-rootfs"])
        _ = try s.waitForPid("webp")
        _ = try s.id(of: "webp")
        let mapping = try s.minirt("port", "webp").stdout
        #expect(mapping.hasPrefix("80/tcp -> 0.0.0.0:"), "\(mapping)")
        let port = mapping.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        #expect(try s.fetch("http://127.0.0.1:\(port)/").hasPrefix("Hello from minirt"))
        try s.minirt("rm", "-f", "webp")
        p.waitUntilExit()
        try s.finish()
    }
}

/// `minirt commit`: the container's filesystem (its writable layer over the
/// image: additions, changes and deletions; not its volumes, not minirt's bind
/// mounts) and config as a new image, --change over it; running or stopped.
@Suite struct CommitTests {
    @Test func commitMakesARunnableImage() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let image = "commit-test-\(getpid())", second = "commit-test2-\(getpid())"
        defer { _ = try? Sandbox.exec(Sandbox.binary, ["--root", s.root, "--images", Sandbox.images, "image", "rm", "-f", image, second]) } // runs after finish(), without its netns
        try #require(try s.minirt("run", "-d", "--name", "src", "--network", "none", "--init", "-v", "/vol", "-e", "FROM_RUN=1", "busybox", "sh", "-c",
                                  "echo made > /made; rm /bin/vi; echo v > /vol/x; ln -s / /escape; touch /ready; sleep 300").status == 0)
        for _ in 0..<50 where try s.minirt("exec", "src", "test", "-e", "/ready").status != 0 { usleep(100_000) }
        let made = try s.minirt("commit", "-c", "CMD [\"cat\", \"/made\"]", "-c", "ENV GREETING=hi THERE=\"a b\"", "-c", "LABEL team=ops",
                                "-c", "EXPOSE 8080", "-m", "first", "-a", "tester", "src", image)
        #expect(made.status == 0 && made.stdout == image + "\n", "\(made.stderr)")
        #expect(try s.minirt("run", "--rm", "--network", "none", image).stdout == "made\n")
        let inside = try s.minirt("run", "--rm", "--network", "none", image, "sh", "-c",
                                  "test -e /bin/vi || echo deleted; ls /vol | wc -l; readlink /escape; echo $GREETING $THERE $FROM_RUN; test -e /sbin/minirt-init || echo no-init")
        #expect(inside.lines == ["deleted", "0", "/", "hi a b 1", "no-init"], "\(inside.stdout) \(inside.stderr)")
        #expect(try s.minirt("image", "inspect", "-f", "{{json .Config.Labels}} {{json .Config.ExposedPorts}}", image).stdout == "{\"team\":\"ops\"} {\"8080/tcp\":{}}\n")
        // The container's symlink to / is a link in the image, nothing more: the host's root was not copied.
        #expect(((try? FileManager.default.attributesOfItem(atPath: Sandbox.images + "/\(image)/rootfs/escape"))?[.type] as? FileAttributeType) == .typeSymbolicLink)

        // A stopped container commits too (its overlay mounted for the copy only); bad input is one line.
        try s.minirt("stop", "-t", "0", "src")
        #expect(try s.minirt("commit", "src", second).status == 0)
        #expect(try s.minirt("run", "--rm", "--network", "none", second, "cat", "/made").stdout == "made\n")
        for bad in [["-c", "FROM busybox"], ["-c", "CMD"], ["-c", "LABEL bad\u{1}key=x"], ["-c", "WORKDIR relative"], ["-c", "EXPOSE 99999"], ["-c", "CMD [broken"]] {
            let out = try s.minirt(["commit"] + bad + ["src", "commit-bad-\(getpid())"])
            #expect(out.status == 1 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        #expect(try s.minirt("commit", "src", image).stderr.contains("already exists"))
        #expect(try s.minirt("commit", "src", "../evil").status == 1)
        #expect(!FileManager.default.fileExists(atPath: Sandbox.images + "/commit-bad-\(getpid())"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: Sandbox.images)) ?? []).allSatisfy { !$0.hasPrefix(".commit-") }, "no staging folder left")
        try s.minirt("rm", "-f", "-v", "src")
        try s.finish()
    }
}

/// `image tag`, `image history` and `image prune`, in an image store of the test's own
/// (prune -a would empty the shared one).
@Suite struct ImageTagTests {
    @Test func tagsHistoryAndPrune() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.images"
        func m(_ args: String...) throws -> Outcome { try s.minirt(["--images", store] + args) }
        try #require(try m("image", "import", Sandbox.images + "/busybox", "base").status == 0)
        #expect(try m("image", "tag", "base", "alias").status == 0)
        #expect(try m("image", "tag", "alias", "second").status == 0)
        #expect(try m("images", "-q").lines == ["alias", "base", "second"])
        // A tag of a tag names the image's folder itself.
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: store + "/second")) == "base")
        #expect(try m("run", "--rm", "--network", "none", "second", "echo", "from a tag").stdout == "from a tag\n")
        let history = try m("image", "history", "base").lines
        #expect(history.count == 2 && history[0].hasPrefix("IMAGE") && history[1].hasPrefix("base "), "\(history)")
        // The image with tags goes only with -f (taking them); a tag goes alone.
        let refused = try m("image", "rm", "base")
        #expect(refused.status == 1 && refused.stderr.contains("also tagged alias, second"), "\(refused.stderr)")
        #expect(try m("image", "rm", "second").status == 0)
        #expect(try m("images", "-q").lines == ["alias", "base"])
        for bad in [["image", "tag", "nope", "x"], ["image", "tag", "base", "alias"], ["image", "tag", "base", "name:v1"], ["image", "tag", "base", "../up"]] {
            let out = try s.minirt(["--images", store] + bad)
            #expect(out.status == 1 && out.stderr.split(separator: "\n").count == 1, "\(bad) \(out.stderr)")
        }
        // prune: nothing without -a (no dangling images here); with -a every image no container uses.
        try #require(try m("create", "--name", "user", "--network", "none", "alias", "true").status == 0)
        #expect(try m("image", "prune", "-f").stdout == "Total reclaimed images: 0\n")
        #expect(try m("image", "prune", "-a", "-f").stdout.contains("Total reclaimed images: 0"), "alias is used, base is behind it")
        try s.minirt("rm", "user")
        let pruned = try m("image", "prune", "-a", "-f")
        #expect(pruned.stdout.contains("untagged: alias") && pruned.stdout.contains("untagged: base") && pruned.stdout.contains("Total reclaimed images: 2"), "\(pruned.stdout)")
        #expect(try m("images", "-q").stdout.isEmpty)
        try s.finish()
    }
}

/// `image load`: archives are untrusted. A hand-made OCI layout whose first
/// layer plants a link to a host folder and whose second writes "through" it,
/// deletes a file (a whiteout) and empties a directory (an opaque marker):
/// everything lands inside the new image, nothing on the host.
@Suite struct ImageLoadTests {
    @Test func layersApplyInsideTheImageOnly() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.images", work = s.root + "/.archive", host = s.root + "/.host-target"
        for d in [store, work + "/l1/keep", work + "/l1/emptied", work + "/l2/through", work + "/l2/emptied", work + "/oci/blobs/sha256", host] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try Sandbox.exec("/bin/cp", ["-a", Sandbox.images + "/busybox/rootfs/.", work + "/l1/"])
        try FileManager.default.createSymbolicLink(atPath: work + "/l1/through", withDestinationPath: host)
        try "old\n".write(toFile: work + "/l1/emptied/old", atomically: true, encoding: .utf8)
        try "gone\n".write(toFile: work + "/l1/keep/gone", atomically: true, encoding: .utf8)
        try "pwned\n".write(toFile: work + "/l2/through/pwned", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: work + "/l2/emptied/.wh..wh..opq", contents: Data())
        try FileManager.default.createDirectory(atPath: work + "/l2/keep", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: work + "/l2/keep/.wh.gone", contents: Data())
        func blob(_ path: String) throws -> String {
            let hex = String(try Sandbox.exec("/usr/bin/sha256sum", [path]).stdout.prefix(64))
            try FileManager.default.moveItem(atPath: path, toPath: work + "/oci/blobs/sha256/" + hex)
            return "sha256:" + hex
        }
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/l1.tar", "-C", work + "/l1", "."])
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/l2.tar", "-C", work + "/l2", "."])
        let l1 = try blob(work + "/l1.tar"), l2 = try blob(work + "/l2.tar")
        try #"{"config": {"Cmd": ["sh", "-c", "ls /through /emptied; cat /through/pwned; test -e /keep/gone || echo whiteout"]}}"#.write(toFile: work + "/config.json", atomically: true, encoding: .utf8)
        let config = try blob(work + "/config.json")
        try """
            {"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":1},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(l1)","size":1},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(l2)","size":1}]}
            """.write(toFile: work + "/manifest.json", atomically: true, encoding: .utf8)
        let manifest = try blob(work + "/manifest.json")
        try #"{"schemaVersion":2,"manifests":[{"digest":"\#(manifest)","annotations":{"org.opencontainers.image.ref.name":"example.org/team/layered:latest"}}]}"#
            .write(toFile: work + "/oci/index.json", atomically: true, encoding: .utf8)
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: work + "/oci/oci-layout", atomically: true, encoding: .utf8)
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/image.tar", "-C", work + "/oci", "."])

        let loaded = try s.minirt("--images", store, "image", "load", "-i", work + "/image.tar")
        #expect(loaded.stdout == "Loaded image: layered\n", "\(loaded.stdout) \(loaded.stderr)")
        #expect(!FileManager.default.fileExists(atPath: host + "/pwned"), "a layer wrote through a link onto the host")
        let ran = try s.minirt("--images", store, "run", "--rm", "--network", "none", "layered")
        // /emptied lost layer 1's file (opaque), /through is a directory of the image with the file, /keep/gone was whited out.
        #expect(ran.lines == ["/emptied:", "/through:", "pwned", "pwned", "whiteout"], "\(ran.stdout) \(ran.stderr)")

        // A digest that is a path, a blob that does not match its digest, not an archive: refused, nothing left.
        try #"{"schemaVersion":2,"manifests":[{"digest":"sha256:../../../etc/passwd"}]}"#.write(toFile: work + "/oci/index.json", atomically: true, encoding: .utf8)
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/bad.tar", "-C", work + "/oci", "."])
        let bad = try s.minirt("--images", store, "image", "load", "-i", work + "/bad.tar", "--name", "bad")
        #expect(bad.status == 1 && bad.stderr.contains("not a sha256 digest"), "\(bad.stderr)")
        try "tampered".write(toFile: work + "/oci/blobs/sha256/" + String(manifest.dropFirst(7)), atomically: true, encoding: .utf8)
        try #"{"schemaVersion":2,"manifests":[{"digest":"\#(manifest)"}]}"#.write(toFile: work + "/oci/index.json", atomically: true, encoding: .utf8)
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/tampered.tar", "-C", work + "/oci", "."])
        let tampered = try s.minirt("--images", store, "image", "load", "-i", work + "/tampered.tar", "--name", "bad")
        #expect(tampered.status == 1 && tampered.stderr.contains("does not have that digest"), "\(tampered.stderr)")
        #expect(try s.minirt("--images", store, "image", "load", "-i", "/etc/hostname", "--name", "bad").status == 1)
        // The archive's own link on the way to its blobs (which could lead to any file of the host): refused.
        try FileManager.default.createDirectory(atPath: work + "/linked", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: work + "/linked/blobs", withDestinationPath: work + "/oci/blobs")
        try Sandbox.exec("/bin/cp", [work + "/oci/oci-layout", work + "/linked/"])
        try #"{"schemaVersion":2,"manifests":[{"digest":"\#(manifest)"}]}"#.write(toFile: work + "/linked/index.json", atomically: true, encoding: .utf8)
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/linked.tar", "-C", work + "/linked", "."])
        let linked = try s.minirt("--images", store, "image", "load", "-i", work + "/linked.tar", "--name", "bad")
        #expect(linked.status == 1 && linked.stderr.contains("not a plain file"), "\(linked.stderr)")
        #expect(try s.minirt("--images", store, "images", "-q").lines == ["layered"])
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []).allSatisfy { !$0.hasPrefix(".load-") })
        #expect(!s.leftScratch("load"))
        try s.finish()
    }

    /// An archive of several images (docker save a b, an OCI layout with several
    /// manifests) loads each; an index of indexes (a multi-platform image) gives
    /// this machine's platform; --name with several, or no image for this
    /// platform, is refused with nothing loaded.
    @Test func severalImagesAndNestedIndexes() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.images", work = s.root + "/.multi"
        for d in [store, work + "/oci/blobs/sha256"] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        func blob(_ text: String) throws -> String {
            try text.write(toFile: work + "/b", atomically: true, encoding: .utf8)
            return try blob(file: work + "/b")
        }
        func blob(file path: String) throws -> String {
            let hex = String(try Sandbox.exec("/usr/bin/sha256sum", [path]).stdout.prefix(64))
            try? FileManager.default.removeItem(atPath: work + "/oci/blobs/sha256/" + hex)
            try FileManager.default.moveItem(atPath: path, toPath: work + "/oci/blobs/sha256/" + hex)
            return "sha256:" + hex
        }
        try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/layer.tar", "-C", Sandbox.images + "/busybox/rootfs", "."])
        let layer = try blob(file: work + "/layer.tar")
        let config = try blob(#"{"config": {"Cmd": ["echo", "multi"]}}"#)
        let manifest = try blob(#"{"schemaVersion":2,"config":{"digest":"\#(config)","size":1},"layers":[{"digest":"\#(layer)","size":1}]}"#)
        let platforms = try blob("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
             {"digest":"\(manifest)","platform":{"os":"linux","architecture":"arm64"}},
             {"digest":"\(manifest)","platform":{"os":"linux","architecture":"amd64"}}]}
            """)
        let foreign = try blob(#"{"schemaVersion":2,"manifests":[{"digest":"\#(manifest)","platform":{"os":"linux","architecture":"s390x"}}]}"#)
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: work + "/oci/oci-layout", atomically: true, encoding: .utf8)
        func archive(_ index: String, _ name: String) throws -> String {
            try index.write(toFile: work + "/oci/index.json", atomically: true, encoding: .utf8)
            try Sandbox.exec("/bin/tar", ["-c", "-f", work + "/\(name).tar", "-C", work + "/oci", "."])
            return work + "/\(name).tar"
        }
        func ref(_ d: String, _ n: String) -> String { #"{"digest":"\#(d)","annotations":{"org.opencontainers.image.ref.name":"\#(n)"}}"# }
        let two = try archive(#"{"schemaVersion":2,"manifests":[\#(ref(manifest, "one")),\#(ref(manifest, "two"))]}"#, "two")
        let named = try s.minirt("--images", store, "image", "load", "-i", two, "--name", "x")
        #expect(named.status == 1 && named.stderr.contains("holds 2 images"), "\(named.stderr)")
        let loaded = try s.minirt("--images", store, "image", "load", "-i", two)
        #expect(loaded.stdout == "Loaded image: one\nLoaded image: two\n", "\(loaded.stdout)\(loaded.stderr)")
        let nested = try s.minirt("--images", store, "image", "load", "-i", try archive(#"{"schemaVersion":2,"manifests":[\#(ref(platforms, "multi"))]}"#, "nested"))
        #expect(nested.stdout == "Loaded image: multi\n", "\(nested.stdout)\(nested.stderr)")
        #expect(try s.minirt("--images", store, "run", "--rm", "--network", "none", "multi").stdout == "multi\n")
        let none = try s.minirt("--images", store, "image", "load", "-i", try archive(#"{"schemaVersion":2,"manifests":[\#(ref(foreign, "alien"))]}"#, "foreign"))
        #expect(none.status == 1 && none.stderr.contains("no linux/") && none.stderr.contains("s390x"), "\(none.stderr)")
        // One name taken: the whole archive is refused, the other image not loaded either.
        let again = try s.minirt("--images", store, "image", "load", "-i", try archive(#"{"schemaVersion":2,"manifests":[\#(ref(manifest, "three")),\#(ref(manifest, "one"))]}"#, "again"))
        #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again.stderr)")
        #expect(try s.minirt("--images", store, "images", "-q").lines.sorted() == ["multi", "one", "two"])
        try s.finish()
    }
}
