import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The images the README and the lessons use, run for real.
@Suite struct ImageTests {
    @Test func nginxServesItsPageInsideItsNetworkNamespace() throws {
        let s = try Sandbox()
        #expect(FileManager.default.fileExists(atPath: "\(Sandbox.images)/nginx-rootfs/rootfs/usr/sbin/nginx"),
                "build it: rootfs-images/build rootfs-images/nginx-rootfs")
        let log = Pipe()
        let p = try s.start(["run", "--rm", "--name", "web", "nginx-rootfs"], stdout: log, stderr: log)
        let pid = try s.waitForPid("web")
        // Bounded: nginx needs a moment to listen. Traffic stays inside the container's own namespace.
        var page = ""
        for _ in 0..<50 where !page.contains("Hello") {
            page = try Sandbox.exec("/usr/bin/nsenter", ["-t", "\(pid)", "-n", "curl", "-s", "--max-time", "2", "http://127.0.0.1/"]).stdout
            if !page.contains("Hello") { usleep(50_000) }
        }
        let hostname = try s.minirt("inspect", "-f", "{{.Config.Hostname}}", "web").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(page == "Hello from minirt: container \(hostname), address 127.0.0.1\n")
        #expect(try s.minirt("inspect", "-f", "{{.Config.StopSignal}} {{json .Config.ExposedPorts}}", "web").stdout == "SIGQUIT {\"80/tcp\":{}}\n")
        try s.minirt("rm", "-f", "web")
        p.waitUntilExit()
        let out = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(out.contains("\"GET / HTTP/1.1\" 200"), "nginx logs to the container's stdout: \(out)")
        try s.finish()
    }
}
