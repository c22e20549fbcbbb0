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

    /// Random command lines from a pool of flags, values and malformed tokens
    /// (seeded, so a failure repeats): whatever the quick parse takes must read
    /// exactly as ArgumentParser reads it.
    @Test func randomCommandLinesReadAlike() throws {
        let s = try Sandbox(isolatedNetwork: false)
        var env = s.environment
        env["MINIRT_PARSE_CHECK"] = "report"
        let pool = ["--rm", "-d", "-i", "-t", "-it", "-dit", "-td", "-P", "-q", "--privileged", "--read-only", "--no-healthcheck",
                    "--name", "x", "--name=y", "-e", "A=1", "--env=B", "-eC", "-p", "80", "--publish=81:81", "--network", "none",
                    "--net=none", "-v", "/a:/b", "-w", "/wd", "--workdir=/x", "-u", "0", "--user=1:1", "--entrypoint", "",
                    "--entrypoint=", "-", "--", "-x", "--no-such", "-m", "64m", "--memory=1g", "--restart", "always", "--init",
                    "--sig-proxy", "false", "--cap-add", "ALL", "-l", "a=b", "--label=c", "--tmpfs", "/t", "--dns=1.1.1.1",
                    "--rm=1", "-a", "stdout", "--ulimit", "nofile=1:1", "--stop-timeout", "1"]
        // No token names an image or a folder: every line stops at its image, whichever token that is.
        var rng = SplitMix(seed: 20261207)
        var quick = 0
        let cases = 150
        for _ in 0..<cases {
            let tokens = (0..<Int.random(in: 0...6, using: &rng)).map { _ in pool.randomElement(using: &rng)! }
            let o = try Sandbox.exec(Sandbox.binary, ["run"] + tokens + ["no-such-image-qp", "echo", "-d"], env: env)
            #expect(!o.stderr.contains("differs"), "\(tokens): \(o.stderr)")
            #expect(o.status != 0, "\(tokens) ran: \(o.stdout)")
            if o.stderr.hasPrefix("minirt: parse: quick\n") { quick += 1 }
        }
        // Both sides get exercised: many lines are quick, many are not.
        #expect(quick > cases / 5 && quick < cases * 4 / 5, "\(quick) of \(cases) read quickly")
        try s.finish()
    }
}

/// A seedable generator (SplitMix64), so that a failing random case repeats.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
