import Testing
@testable import MinirtKit
import MinirtEngine
import MinirtState
import Glibc

@Suite struct TimestampTests {
    @Test func roundTripsRFC3339() {
        let t = Timestamp(nanoseconds: 1_795_000_000_123_456_789)
        #expect(Timestamp(rfc3339: t.rfc3339) == t)
        #expect(t.rfc3339.hasSuffix(".123456789Z"))
        #expect(Timestamp(rfc3339: "2026-11-26T16:19:11Z")?.nanoseconds == 1_795_709_951_000_000_000)
        #expect(Timestamp(rfc3339: "2026-11-26T16:19:11.5Z")?.nanoseconds == 1_795_709_951_500_000_000)
        #expect(Timestamp(rfc3339: "yesterday") == nil)
        #expect(Timestamp.zero.rfc3339 == "0001-01-01T00:00:00Z")
    }
}

@Suite struct HumanDurationTests {
    @Test func readsLikeDocker() {
        let t0 = Timestamp(nanoseconds: 0)
        func after(_ s: Double) -> String { humanDuration(Timestamp(nanoseconds: Int64(s * 1e9)), since: t0) }
        #expect(after(0.4) == "Less than a second")
        #expect(after(1) == "1 second")
        #expect(after(59) == "59 seconds")
        #expect(after(61) == "About a minute")
        #expect(after(150) == "2 minutes")
        #expect(after(3600) == "About an hour")
        #expect(after(5 * 3600) == "5 hours")
        #expect(after(3 * 86400) == "3 days")
        #expect(after(20 * 86400) == "2 weeks")
        #expect(after(90 * 86400) == "3 months")
        #expect(after(800 * 86400) == "2 years")
    }
}

@Suite struct EnvParserTests {
    @Test func parsesItemsAndFiles() throws {
        #expect(try EnvParser.parse("A=b=c", host: [:]) == "A=b=c")
        #expect(try EnvParser.parse("A=", host: [:]) == "A=")
        #expect(try EnvParser.parse("H", host: ["H": "x"]) == "H=x")
        #expect(try EnvParser.parse("H", host: [:]) == nil)
        #expect(try EnvParser.parseFile("  # c\nA=1\n\n  B=2\n", host: [:]) == ["A=1", "B=2"])
        #expect(EnvParser.merge(["A=1", "B=2"], ["A=3"]) == ["A=3", "B=2"])
    }
}

@Suite struct MountPlanTests {
    @Test func splitsFlagsFromData() {
        let p = MountPlan(OCISpec.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs",
                                         options: ["nosuid", "strictatime", "mode=755", "size=65536k"]))
        #expect(p.flags == UInt(MS_NOSUID) | UInt(MS_STRICTATIME))
        #expect(p.data == "mode=755,size=65536k")
        #expect(!p.isBind && !p.remountReadonly && p.fstype == "tmpfs")
    }

    @Test func readOnlyBindNeedsRemount() {
        let p = MountPlan(OCISpec.Mount(destination: "/data", type: "bind", source: "/srv", options: ["rbind", "ro", "rprivate"]))
        #expect(p.isBind && p.remountReadonly && p.fstype == nil)
        #expect(p.flags & UInt(MS_RDONLY) == 0)
        #expect(p.flags & UInt(MS_BIND | MS_REC) == UInt(MS_BIND | MS_REC))
        #expect(p.propagation == UInt(MS_PRIVATE | MS_REC))
        let sys = MountPlan(OCISpec.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["ro"]))
        #expect(sys.flags & UInt(MS_RDONLY) != 0 && !sys.remountReadonly)
    }
}

@Suite struct PsRowTests {
    func record(_ status: ContainerRecord.Status, exit: Int32 = 0) -> ContainerRecord {
        var r = ContainerRecord(
            id: String(repeating: "0123456789abcdef", count: 4), name: "web", created: Timestamp(nanoseconds: 0),
            image: "busybox", rootfs: "/r", path: "sh", args: ["-c", "while true; do sleep 1; done"],
            config: .init(hostname: "h", image: "busybox"), hostConfig: .init(networkMode: "none"))
        r.state.status = status
        r.state.exitCode = exit
        r.state.startedAt = Timestamp(nanoseconds: 0)
        r.state.finishedAt = Timestamp(nanoseconds: 0)
        return r
    }

    @Test func columnsReadLikeDockerPs() {
        let now = Timestamp(nanoseconds: 180_000_000_000)
        let up = PsRow(record(.running), now: now)
        #expect(up.ID == "0123456789ab")
        #expect(up.Command == "\"sh -c while true; do…\"")
        #expect(up.Status == "Up 3 minutes")
        #expect(up.RunningFor == "3 minutes ago")
        #expect(PsRow(record(.exited, exit: 7), now: now).Status == "Exited (7) 3 minutes ago")
        #expect(PsRow(record(.created), now: now).Status == "Created")
        #expect(PsRow(record(.running), now: now, truncate: false).ID.count == 64)
    }

    @Test func tablePadsLikeTabwriter() {
        let t = formatTable([["A", "LONGER HEADER", "Z"], ["xyz", "b", "last"]])
        // Like Go's tabwriter: a cell is max(10, text + 3) wide; the last column is not padded.
        #expect(t == "A         LONGER HEADER   Z\nxyz       b               last\n")
    }
}

@Suite struct CommandLineRewriteTests {
    let g = ["--root", "--images"]
    @Test func globalFlagsMoveAfterTheVerb() {
        #expect(CommandLineRewrite.hoist(["--root", "/x", "run", "busybox", "ls", "--root"], globals: g, nestedVerbs: ["network"])
                == ["run", "--root", "/x", "busybox", "ls", "--root"])
        #expect(CommandLineRewrite.hoist(["--root=/x", "network", "ls", "-q"], globals: g, nestedVerbs: ["network"])
                == ["network", "ls", "--root=/x", "-q"])
        #expect(CommandLineRewrite.hoist(["run", "--root", "/x", "busybox"], globals: g, nestedVerbs: [])
                == ["run", "--root", "/x", "busybox"])
        #expect(CommandLineRewrite.hoist(["--version"], globals: g, nestedVerbs: []) == ["--version"])
    }
}

@Suite struct HealthTests {
    @Test func goDurations() {
        #expect(GoDuration.parse("30s") == 30_000_000_000)
        #expect(GoDuration.parse("1m30s") == 90_000_000_000)
        #expect(GoDuration.parse("300ms") == 300_000_000)
        #expect(GoDuration.parse("1.5h") == 5_400_000_000_000)
        #expect(GoDuration.parse("2us") == 2000 && GoDuration.parse("7ns") == 7 && GoDuration.parse("0") == 0)
        for bad in ["", "30", "s", "1x", "-1s", "1m 30s", "1e3s", "99999999999h"] { #expect(GoDuration.parse(bad) == nil, "\(bad)") }
        #expect(GoDuration.format(90_000_000_000) == "1m30s")
        #expect(GoDuration.format(3_600_000_000_000) == "1h0m0s")
        #expect(GoDuration.format(200_000_000) == "200ms")
        #expect(GoDuration.format(1_500_000_000) == "1.5s")
    }

    @Test func statusAsDockerCountsIt() {
        func result(_ code: Int32) -> Health.Result { Health.Result(start: .zero, end: .zero, exitCode: code, output: "") }
        var h = Health()
        // Failures in the start period do not count while it is still starting.
        var changed = h.record(result(1), retries: 2, inStartPeriod: true)
        #expect(!changed && h.status == Health.starting && h.failingStreak == 0)
        changed = h.record(result(1), retries: 2, inStartPeriod: false)
        #expect(!changed)
        changed = h.record(result(1), retries: 2, inStartPeriod: false)
        #expect(changed && h.status == Health.unhealthy && h.failingStreak == 2)
        changed = h.record(result(0), retries: 2, inStartPeriod: false)
        #expect(changed && h.status == Health.healthy && h.failingStreak == 0)
        // Once healthy, a failure in the start period counts (docker's rule).
        _ = h.record(result(1), retries: 1, inStartPeriod: true)
        #expect(h.status == Health.unhealthy)
        for _ in 0..<10 { _ = h.record(result(0), retries: 1, inStartPeriod: false) }
        #expect(h.log.count == Health.keptResults)
    }

    @Test func flagsOverTheImage() throws {
        var image = HealthConfig(Test: ["CMD", "/bin/check"])
        image.Interval = 5_000_000_000
        var o = RunOptions(image: "img")
        #expect(try HealthFlags.merge(o, image: image) == image)
        o.healthRetries = 7
        o.healthTimeout = "2s"
        let merged = try HealthFlags.merge(o, image: image)
        #expect(merged?.Test == ["CMD", "/bin/check"] && merged?.Interval == 5_000_000_000 && merged?.Timeout == 2_000_000_000 && merged?.Retries == 7)
        o = RunOptions(image: "img")
        o.healthCmd = "curl -f http://localhost/"
        #expect(try HealthFlags.merge(o, image: nil)?.command == ["/bin/sh", "-c", "curl -f http://localhost/"])
        o = RunOptions(image: "img")
        o.noHealthcheck = true
        #expect(try HealthFlags.merge(o, image: image)?.isActive == false)
        let bad: [(inout RunOptions) -> Void] = [
            { $0.noHealthcheck = true; $0.healthCmd = "true" },
            { $0.healthCmd = "true"; $0.healthInterval = "10" },
            { $0.healthCmd = "true"; $0.healthInterval = "10us" },
            { $0.healthCmd = "true"; $0.healthRetries = -1 },
            { $0.healthCmd = "" },
            { $0.healthInterval = "1s" }, // nothing to run
        ]
        for change in bad {
            var b = RunOptions(image: "img")
            change(&b)
            #expect(throws: RunError.self) { try HealthFlags.merge(b, image: nil) }
        }
        #expect(HealthConfig(Test: ["NONE"]).isActive == false && HealthConfig(Test: ["CMD"]).isActive == false)
    }
}

@Suite struct DetachKeysTests {
    @Test func parsesDockersForms() throws {
        #expect(try DetachKeys.parse("ctrl-p,ctrl-q") == [16, 17])
        #expect(try DetachKeys.parse("ctrl-@,ctrl-[,ctrl-_") == [0, 27, 31])
        #expect(try DetachKeys.parse("a,ctrl-z") == [97, 26])
        for bad in ["", "ctrl-", "ctrl-1", "ctrl-pq", "alt-p", "ctrl-p,,ctrl-q", "\n"] {
            #expect(throws: RunError.self, "\(bad)") { try DetachKeys.parse(bad) }
        }
    }

    @Test func matchesAcrossReadsAndHoldsPartialMatches() {
        var m = DetachKeys.Matcher([16, 17])
        var r = m.feed([104, 105, 16][...])
        #expect(r.pass == [104, 105] && !r.detached) // ctrl-p held back
        r = m.feed([120][...])
        #expect(r.pass == [16, 120] && !r.detached) // not the sequence: passed on
        r = m.feed([16][...])
        #expect(r.pass.isEmpty && !r.detached)
        r = m.feed([17, 99][...])
        #expect(r.pass.isEmpty && r.detached)
        var twice = DetachKeys.Matcher([16, 16, 17])
        #expect(twice.feed([16, 16, 16, 17][...]) == ([16], true))
    }
}
