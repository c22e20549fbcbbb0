import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every scripted lesson in examples/ is also a test: `examples/sandbox` runs
/// it in a network namespace and state root of its own; the lesson checks its
/// own claims and must exit 0 without leaving a container.
@Suite struct ExampleTests {
    static let folder = Sandbox.packageRoot + "/examples"
    static let demos: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".sh") && $0.first?.isNumber == true }.sorted()

    @Test func everyLessonIsHere() {
        #expect(Self.demos.count >= 15, "examples/ should hold the fifteen lessons: \(Self.demos)")
        for n in 1...15 { #expect(Self.demos.contains { $0.hasPrefix(String(format: "%02d-", n)) }, "lesson \(n) is missing") }
    }

    @Test(arguments: demos) func lesson(_ name: String) throws {
        var env = ProcessInfo.processInfo.environment
        env["MINIRT_BIN_DIR"] = URL(fileURLWithPath: Sandbox.binary).deletingLastPathComponent().path
        env["MINIRT_IMAGES"] = Sandbox.images
        let o = try Sandbox.exec("/bin/bash", ["\(Self.folder)/sandbox", "\(Self.folder)/\(name)"], env: env)
        #expect(o.status == 0, "\(name) failed:\n\(o.stdout.suffix(4000))\n\(o.stderr.suffix(2000))")
    }

    /// The lessons hold on a host that already runs containers with published
    /// ports (portmap's shared chains and other containers' rules exist): each
    /// lesson checks only its own objects. The NAT and DNAT lessons, in one sandbox.
    @Test func lessonsHoldBesideOtherPublishedContainers() throws {
        var env = ProcessInfo.processInfo.environment
        env["MINIRT_BIN_DIR"] = URL(fileURLWithPath: Sandbox.binary).deletingLastPathComponent().path
        env["MINIRT_IMAGES"] = Sandbox.images
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("minirt-lessons-\(getpid()).sh").path
        try """
            set -e
            minirt run -d --name other-web -p 18080:80 -p 127.0.0.1:18081:80 busybox httpd -f -p 80 >/dev/null
            status=0
            for lesson in 04-routing-nat.sh 05-port-publishing.sh 09-pod-to-pod-routing.sh; do
                bash \(Self.folder)/$lesson || { echo "FAILED: $lesson"; status=1; }
            done
            minirt rm -f other-web >/dev/null
            exit $status
            """.write(toFile: script, atomically: true, encoding: .utf8)
        defer { unlink(script) }
        let o = try Sandbox.exec("/bin/bash", ["\(Self.folder)/sandbox", script], env: env)
        #expect(o.status == 0, "\(o.stdout.suffix(4000))\n\(o.stderr.suffix(2000))")
    }
}
