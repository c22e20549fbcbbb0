import FoundationEssentials
import MinirtEngine
import MinirtState

/// How a container's record ends a release.
enum Ending {
    /// The record, its folder and its name go (rm, --rm, a failed first start);
    /// its anonymous volumes too unless kept (plain `rm`, as docker's without -v).
    case remove(keepingVolumes: Bool = false)
    /// The record stays, exited with this status; `decide` runs under the
    /// container's lock on the record about to be saved (the restart policy).
    case exited(code: Int32, decide: (@Sendable (inout ContainerRecord) -> Void)? = nil)
    /// A later start failed (or a created container's first): the record stays,
    /// with the error (exited; Created if it never ran).
    case failed(String)
    /// The record is already final (gc of an exited container): only the host is released.
    case keep
}

/// The steps of a release, in the one order every path takes them.
enum ReleaseStep: String, CaseIterable, Sendable {
    case readOOM, withdrawEndpoints, withdrawNames, cniDelete, unpin, removeCgroup, record
}

/// What a release does to the host, one step at a time: a seam, so that the
/// order can be checked without a kernel (ReleaseTests).
protocol ReleaseHost {
    func oomKilled(_ r: ContainerRecord) -> Bool
    /// Out of every service it serves (rules rewritten, UDP flows to it flushed).
    func withdrawEndpoints(_ r: inout ContainerRecord)
    func withdrawNames(_ r: inout ContainerRecord)
    func cniDelete(_ r: inout ContainerRecord) throws
    func unpin(_ r: inout ContainerRecord)
    /// False when the cgroup is still there afterwards.
    func removeCgroup(_ r: ContainerRecord) -> Bool
    /// Saves or removes the record; returns it as saved (nil when removed or gone).
    func record(_ r: ContainerRecord, ending: Ending, oomKilled: Bool) throws -> ContainerRecord?
}

struct ReleaseReport {
    var oomKilled = false
    var warnings: [String] = []
    var record: ContainerRecord?
}

/// Releasing a container: the one path for a foreground exit, a failed run,
/// rm, a detached exit, a failed detached start and gc. The init has exited
/// (or never started) when this runs. Order: read the cgroup's OOM counter
/// (before the cgroup goes), withdraw it from the services it serves (no new
/// connection is balanced to it; usually done already, before the signal), withdraw DNS names (no one is sent to an address
/// about to be freed), CNI DEL (rules, veth, lease), unpin the namespace (only
/// after DEL: a failed DEL keeps it for a retry, nerdctl#1872), remove the
/// cgroup, then record or remove the state (last: until then the record names
/// everything still held, for rm or gc to finish).
enum Release {
    static func run(_ start: ContainerRecord, ending: Ending, force: Bool, host: some ReleaseHost) throws -> ReleaseReport {
        var r = start
        var report = ReleaseReport()
        report.oomKilled = host.oomKilled(r)
        var keptNetwork = false
        if !r.attachments.isEmpty {
            host.withdrawEndpoints(&r)
            host.withdrawNames(&r)
            do {
                try host.cniDelete(&r)
            } catch {
                guard force else {
                    if case .remove = ending { throw error }
                    keptNetwork = true
                    report.warnings.append("network teardown failed, kept for a retry (minirt rm -f \(r.name)): \(error)")
                    return try finish(&report, r, ending: ending, host: host)
                }
                report.warnings.append("network teardown failed, released anyway: \(error)")
            }
            if !keptNetwork { host.unpin(&r) }
        }
        return try finish(&report, r, ending: ending, host: host)
    }

    private static func finish(_ report: inout ReleaseReport, _ r: ContainerRecord, ending: Ending, host: some ReleaseHost) throws -> ReleaseReport {
        if !host.removeCgroup(r) {
            report.warnings.append("its cgroup \(r.hostConfig.security?.cgroupsPath ?? "") could not be removed")
        }
        report.record = try host.record(r, ending: ending, oomKilled: report.oomKilled)
        return report
    }
}

/// The real host: the container's network through the attacher, its cgroup, its record in the store.
struct StoreRelease: ReleaseHost {
    let attacher: NetworkAttacher
    let services: Services
    let volumes: VolumeStore
    var store: StateStore { attacher.store }

    func oomKilled(_ r: ContainerRecord) -> Bool {
        guard let cg = Containers.cgroup(of: r), cg.exists() else { return false }
        return cg.oomKills() > 0
    }

    func withdrawEndpoints(_ r: inout ContainerRecord) { services.withdraw(&r) }
    func withdrawNames(_ r: inout ContainerRecord) { attacher.withdrawNames(&r) }
    func cniDelete(_ r: inout ContainerRecord) throws {
        let journal = EventJournal(root: store.root)
        for i in r.attachments.indices.reversed() {
            let added = r.attachments[i].addStarted
            try attacher.deleteAttachment(&r, at: i)
            if added { journal.network("disconnect", r, network: r.attachments[i].network) }
        }
    }
    func unpin(_ r: inout ContainerRecord) { attacher.unpin(&r) }

    func removeCgroup(_ r: ContainerRecord) -> Bool {
        guard let cg = Containers.cgroup(of: r), cg.exists() else { return true }
        return cg.remove()
    }

    func record(_ r: ContainerRecord, ending: Ending, oomKilled: Bool) throws -> ContainerRecord? {
        switch ending {
        case .remove(let keepingVolumes):
            try store.remove(r.id, name: r.name)
            if let range = r.hostConfig.userNamespace { UserNamespacePool().release(id: r.id, range: range) }
            EventJournal(root: store.root).append(Event(type: "container", action: "destroy", id: r.id, attributes: Containers.attributes(r, [:])))
            if !keepingVolumes { volumes.removeAnonymous(of: r, store: store) }
            return nil
        case .keep:
            return r
        case .exited(let code, let decide):
            // Under the lock, against a stop or rm racing the exit; nil if rm got there first.
            return try store.update(r.id) { c in
                c.attachments = r.attachments
                c.state.status = .exited
                c.state.exitCode = code
                c.state.oomKilled = oomKilled
                c.state.error = ""
                c.state.pid = 0
                c.state.finishedAt = .now()
                decide?(&c)
            }
        case .failed(let message):
            return try store.update(r.id) { c in
                c.attachments = r.attachments
                // Never started (a created container): it stays Created, with the error, as in docker.
                c.state.status = c.state.startedAt.isZero ? .created : .exited
                c.state.error = message
                c.state.pid = 0
                if !c.state.startedAt.isZero { c.state.finishedAt = .now() }
            }
        }
    }
}

extension Containers {
    var releaseHost: StoreRelease { StoreRelease(attacher: attacher, services: services, volumes: volumes) }

    /// Releases a container whose init is gone: see Release.
    @discardableResult
    func release(_ r: ContainerRecord, ending: Ending, force: Bool) throws -> ReleaseReport {
        try Release.run(r, ending: ending, force: force, host: releaseHost)
    }
}
