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
