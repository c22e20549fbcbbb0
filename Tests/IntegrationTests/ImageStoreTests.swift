import Foundation
import Testing

/// The image store: recipes built from Debian packages, import, rm.
@Suite struct ImageStoreTests {
    static let build = Sandbox.packageRoot + "/rootfs-images/build"

    func files(_ dir: String) throws -> [String] {
        try Sandbox.exec("/usr/bin/find", [dir, "-printf", "%P %y %m\n"]).lines.sorted()
    }

    @Test func recipesAreRepeatableAndErrorsLeaveNothing() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.store"
        for n in 1...2 {
            let o = try Sandbox.exec("/bin/bash", [Self.build, Sandbox.packageRoot + "/rootfs-images/busybox", "\(store)\(n)"])
            #expect(o.status == 0, "\(o.stderr)")
            #expect(o.stdout.contains("[1/1] unpacking busybox-static"), "progress: \(o.stdout)")
        }
        #expect(try files("\(store)1/busybox") == files("\(store)2/busybox"), "the same recipe must give the same files")

        // A recipe naming a package Debian does not have.
        let bad = s.root + "/.recipes/ghost"
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try "busybox-static\nno-such-package-minirt\n".write(toFile: bad + "/packages", atomically: true, encoding: .utf8)
        try "{\"config\": {\"Cmd\": [\"sh\"]}}".write(toFile: bad + "/config.json", atomically: true, encoding: .utf8)
        let o = try Sandbox.exec("/bin/bash", [Self.build, bad, store + "1"])
        #expect(o.status != 0 && o.stderr.contains("no Debian package 'no-such-package-minirt'"), "\(o.stderr)")
        #expect(o.stderr.split(separator: "\n").count == 1)
        // A broken recipe: no config.
        try FileManager.default.removeItem(atPath: bad + "/config.json")
        let o2 = try Sandbox.exec("/bin/bash", [Self.build, bad, store + "1"])
        #expect(o2.status != 0 && o2.stderr.contains("config.json is missing"), "\(o2.stderr)")
        // Without the registry (a network namespace with nothing in it: no packet leaves).
        let offline = try Sandbox.exec("/usr/bin/unshare", ["-n", "/bin/bash", Self.build, Sandbox.packageRoot + "/rootfs-images/nettools", store + "1"])
        #expect(offline.status != 0 && offline.stderr.contains("cannot download the packages") && offline.stderr.contains("is the Debian mirror reachable?"),
                "\(offline.stderr)")
        #expect(offline.stderr.split(separator: "\n").count == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: store + "1")
        #expect(left == ["busybox"], "a failed build left something in the store: \(left)")
        try s.finish()
    }

    @Test func importRunAndRemove() throws {
        let s = try Sandbox(isolatedNetwork: false)
        let store = s.root + "/.images"
        let busybox = "\(Sandbox.images)/busybox/rootfs"
        func minirt(_ args: String...) throws -> Outcome { try s.minirt(["--images", store] + args) }
        func minirt(_ args: [String]) throws -> Outcome { try s.minirt(["--images", store] + args) }

        #expect(try minirt("image", "import", "--cmd", "echo imported", busybox, "bb").status == 0)
        let r = try minirt("run", "--rm", "--network", "none", "bb")
        #expect(r.stdout == "imported\n", "\(r.stdout) \(r.stderr)")
        // A tar of a rootfs, as docker export writes it.
        let tar = s.root + "/.bb.tar"
        #expect(try Sandbox.exec("/bin/tar", ["-cf", tar, "-C", busybox, "."]).status == 0)
        #expect(try minirt("image", "import", tar, "bbtar").status == 0)
        #expect(try minirt("run", "--rm", "--network", "none", "bbtar", "sh", "-c", "echo from-tar").stdout == "from-tar\n")
        #expect(try minirt("images", "-q").lines == ["bb", "bbtar"])

        // Bad input: one line, nothing left in the store.
        let notRootfs = s.root + "/.notrootfs.tar"
        try "hello".write(toFile: s.root + "/.hello.txt", atomically: true, encoding: .utf8)
        #expect(try Sandbox.exec("/bin/tar", ["-cf", notRootfs, "-C", s.root, ".hello.txt"]).status == 0)
        let cases: [([String], String)] = [
            (["image", "import", notRootfs, "x"], "holds no root filesystem"),
            (["image", "import", s.root + "/.hello.txt", "x"], "is not a tar archive"),
            (["image", "import", busybox, "bb"], "image bb already exists"),
            (["image", "import", busybox, "../x"], "invalid image name"),
            (["image", "import", "/no/such/dir", "x"], "no such file or directory"),
            (["image", "rm", "nothing-here"], "no such image: nothing-here"),
        ]
        for (args, message) in cases {
            let o = try minirt(args)
            #expect(o.status == 1 && o.stderr.split(separator: "\n").count == 1 && o.stderr.contains(message), "\(args): \(o.stderr)")
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: store).sorted()
        #expect(entries == ["bb", "bbtar"], "left in the store: \(entries)")

        // An image in use is kept unless forced.
        #expect(try minirt("run", "--name", "user", "--network", "none", "bb").status == 0)
        let inUse = try minirt("image", "rm", "bb")
        #expect(inUse.status == 1 && inUse.stderr.contains("used by container user"), "\(inUse.stderr)")
        try minirt("rm", "user")
        #expect(try minirt("image", "rm", "bb", "bbtar").lines == ["bb", "bbtar"])
        #expect(try minirt("images", "-q").lines.isEmpty)
        try s.finish()
    }

    @Test func nettoolsHasTheLessonsTools() throws {
        let s = try Sandbox(isolatedNetwork: false)
        try #require(FileManager.default.fileExists(atPath: "\(Sandbox.images)/nettools/rootfs"), "build it: rootfs-images/build rootfs-images/nettools")
        let o = try s.minirt("run", "--rm", "--network", "none", "nettools", "sh", "-c",
                             "ip -V; ping -V; curl --version | head -1; dig -v 2>&1; tcpdump --version 2>&1 | head -1; iptables -V; nc -h 2>&1 | head -1; ping -c 1 127.0.0.1 >/dev/null && echo ping-ok")
        #expect(o.status == 0, "\(o.stderr)")
        for tool in ["iproute2", "iputils", "curl 7", "DiG 9", "tcpdump version", "iptables v1", "OpenBSD netcat", "ping-ok"] {
            #expect(o.stdout.contains(tool), "\(tool) missing: \(o.stdout)")
        }
        try s.finish()
    }
}
