import FoundationEssentials
@testable import MinirtKit
import MinirtState
import Testing

/// The one release path, through a host that records its steps.
@Suite struct ReleaseTests {
    final class Recorder: ReleaseHost, @unchecked Sendable {
        var steps: [ReleaseStep] = []
        var delFails = false
        var ending: Ending?

        func oomKilled(_ r: ContainerRecord) -> Bool { steps.append(.readOOM); return true }
        func withdrawEndpoints(_ r: inout ContainerRecord) { steps.append(.withdrawEndpoints) }
        func withdrawNames(_ r: inout ContainerRecord) { steps.append(.withdrawNames) }
        func cniDelete(_ r: inout ContainerRecord) throws {
            steps.append(.cniDelete)
            if delFails { throw RunError.invalid("plugin failed") }
        }
        func unpin(_ r: inout ContainerRecord) { steps.append(.unpin); r.network = nil }
        func removeCgroup(_ r: ContainerRecord) -> Bool { steps.append(.removeCgroup); return true }
        func record(_ r: ContainerRecord, ending: Ending, oomKilled: Bool) throws -> ContainerRecord? {
            steps.append(.record)
            self.ending = ending
            return r
        }
    }

    func container(attached: Bool) -> ContainerRecord {
        var r = ContainerRecord(id: StateStore.newID(), name: "c", created: .now(), image: "busybox", rootfs: "/r",
                                path: "true", args: [], config: .init(hostname: "h", image: "busybox"),
                                hostConfig: .init(networkMode: "bridge"))
        if attached { r.network = NetworkState(network: "bridge", netnsPath: "/var/run/netns/x", config: "{}") }
        return r
    }

    @Test func everyEndingTakesTheSameOrder() throws {
        for ending in [Ending.remove(), .exited(code: 3), .failed("boom"), .keep] {
            let host = Recorder()
            let report = try Release.run(container(attached: true), ending: ending, force: false, host: host)
            #expect(host.steps == ReleaseStep.allCases, "\(ending): \(host.steps)")
            #expect(report.oomKilled && report.warnings.isEmpty)
            #expect(report.record?.network == nil, "the record saved last names nothing still held")
        }
    }

    @Test func withoutANetworkOnlyTheCgroupAndRecord() throws {
        let host = Recorder()
        _ = try Release.run(container(attached: false), ending: .remove(), force: false, host: host)
        #expect(host.steps == [.readOOM, .removeCgroup, .record])
    }

    /// A failing DEL keeps the pin (nerdctl#1872) and the attachment in the record
    /// for rm to retry; rm without -f stops; a forced release goes on.
    @Test func failingDelKeepsThePinUnlessForced() throws {
        let kept = Recorder()
        kept.delFails = true
        let report = try Release.run(container(attached: true), ending: .exited(code: 0), force: false, host: kept)
        #expect(kept.steps == [.readOOM, .withdrawEndpoints, .withdrawNames, .cniDelete, .removeCgroup, .record])
        #expect(report.record?.network != nil && report.warnings.count == 1)

        let refused = Recorder()
        refused.delFails = true
        #expect(throws: RunError.self) { try Release.run(container(attached: true), ending: .remove(), force: false, host: refused) }
        #expect(refused.steps == [.readOOM, .withdrawEndpoints, .withdrawNames, .cniDelete], "nothing removed after a refused DEL")

        let forced = Recorder()
        forced.delFails = true
        let f = try Release.run(container(attached: true), ending: .remove(), force: true, host: forced)
        #expect(forced.steps == ReleaseStep.allCases)
        #expect(f.warnings.first?.contains("released anyway") == true)
    }
}
