import Foundation
import Testing

/// `run`'s quick parse (QuickRun) reads the everyday flags without
/// ArgumentParser; with MINIRT_PARSE_CHECK set minirt compares the two readings
/// of each command line and fails on a difference. Every `run` of the
/// integration tests is checked that way (Sandbox.environment); these command
/// lines cover each flag of the quick table, and the cases it must leave to
/// ArgumentParser.
@Suite struct QuickParseTests {
    static func quick(_ s: Sandbox) -> [[String]] { [
        ["--rm", "--network", "none"],
        ["--rm", "--net=none", "-it"],
        ["-dit", "--name", "qp", "--restart", "always"],
        ["-i", "-t", "-d", "-P", "-q", "--privileged", "--read-only", "--no-healthcheck"],
        ["--detach", "--interactive", "--tty", "--publish-all", "--quiet"],
        ["--hostname", "web", "-w", "/srv", "--entrypoint", "", "-u", "1000:1000"],
        ["--workdir=/tmp", "--memory=32m"],
        ["--user=nobody", "--ip", "10.88.0.9", "--ip6", "fd00::9", "--mac-address", "02:42:ac:11:00:09"],
        ["--stop-signal", "SIGINT", "--cidfile", s.root + "/.cid", "--cgroup-parent", "/x", "--log-driver", "none"],
        ["-m", "64m", "--cpus", "0.5", "--shm-size", "8m"],
        ["-e", "A=1", "--env", "B=2", "--env=C", "--env-file", "/etc/hostname", "--env-file=/etc/hosts"],
        ["--network", "a", "--network=b", "--net", "c"],
        ["-p", "80", "-p", "127.0.0.1:8080:80/tcp", "--publish=9090:90"],
        ["-v", "/srv:/srv:ro", "--volume=/a:/a", "--mount", "type=tmpfs,target=/t", "--tmpfs", "/run:size=1m"],
        ["--dns", "1.1.1.1", "--dns-search", "example.org", "--network-alias", "web", "--add-host", "h:10.0.0.1"],
        ["--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--security-opt", "no-new-privileges", "--security-opt=seccomp=unconfined"],
        ["-l", "a=b", "--label", "c=d", "--log-opt", "max-size=1m", "-a", "stdout", "--attach=stderr"],
        ["--sysctl", "net.ipv4.ip_forward=1", "--ulimit", "nofile=100:100", "--device", "/dev/null:/dev/xnull:rwm"],
        ["--root", s.root, "--images", Sandbox.images, "--cni-config", s.root + "/.cni-config", "--cni-path", "/usr/lib/cni"],
    ] }

    /// What the quick parse must not take: ArgumentParser reads these (and says what is wrong).
    static let fallback: [[String]] = [
        ["--name", "a", "--name", "b"],         // a single value twice
        ["-m", "64m", "--memory=32m"],          // twice, two spellings
        ["-d", "--detach"],                      // a flag twice, two spellings
        ["--rm=true"],                           // a value on a flag
        ["--entrypoint="], ["--network="],       // nothing after '=' (ArgumentParser: a missing value)
        ["-eA=1"], ["-e=A=1"], ["-di", "-i"],   // joined short forms, a repeat inside a group
        ["-e", "-x"],                            // a value that looks like a flag
        ["--stop-timeout", "3"], ["--init"], ["--sig-proxy", "false"],  // flags only ArgumentParser reads
        ["--no-such-flag"],
        ["--name"],                              // a missing value
        ["--rm", "--"],                          // a terminator before the image
        ["-"],                                   // a lone dash
    ]

    @Test func quickParseAgreesWithArgumentParser() throws {
        let s = try Sandbox(isolatedNetwork: false)
        var env = s.environment
        env["MINIRT_PARSE_CHECK"] = "report"
        // An image that does not exist: each run stops right after its flags are read.
        for flags in Self.quick(s) {
            let o = try Sandbox.exec(Sandbox.binary, ["run"] + flags + ["no-such-image-qp", "echo", "-d", "--rm"], env: env)
            #expect(o.stderr.hasPrefix("minirt: parse: quick\n"), "\(flags): \(o.stderr)")
            #expect(!o.stderr.contains("differs"), "\(flags): \(o.stderr)")
            #expect(o.status == 125, "\(flags): \(o.status) \(o.stderr)")
        }
        for flags in Self.fallback {
            let o = try Sandbox.exec(Sandbox.binary, ["run"] + flags + ["no-such-image-qp"], env: env)
            #expect(o.stderr.hasPrefix("minirt: parse: ArgumentParser\n"), "\(flags): \(o.stderr)")
            #expect(o.status == 125, "\(flags): \(o.status) \(o.stderr)")
        }
        // A real run through the quick parse: the command and its own flags reach the container.
        let ran = try s.minirt("run", "--rm", "--network", "none", "-e", "GREETING=hi", "busybox", "sh", "-c", "echo $GREETING \"$@\"", "sh", "--rm", "-d")
        #expect(ran.stdout == "hi --rm -d\n", "\(ran.stdout) \(ran.stderr)")
        try s.finish()
    }
}
