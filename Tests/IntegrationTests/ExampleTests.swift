import Foundation
import Testing

/// Every scripted lesson in examples/ is also a test: `examples/sandbox` runs
/// it in a network namespace and state root of its own; the lesson checks its
/// own claims and must exit 0 without leaving a container.
@Suite struct ExampleTests {
    static let folder = Sandbox.packageRoot + "/examples"
    static let demos: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".sh") && $0.first?.isNumber == true }.sorted()

    @Test func everyLessonIsHere() {
        #expect(Self.demos.count >= 9, "examples/ should hold the nine lessons: \(Self.demos)")
    }

    @Test(arguments: demos) func lesson(_ name: String) throws {
        var env = ProcessInfo.processInfo.environment
        env["MINIRT_BIN_DIR"] = URL(fileURLWithPath: Sandbox.binary).deletingLastPathComponent().path
        env["MINIRT_IMAGES"] = Sandbox.images
        let o = try Sandbox.exec("/bin/bash", ["\(Self.folder)/sandbox", "\(Self.folder)/\(name)"], env: env)
        #expect(o.status == 0, "\(name) failed:\n\(o.stdout.suffix(4000))\n\(o.stderr.suffix(2000))")
    }
}
