import FoundationEssentials
import MinirtEngine
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

public enum ContainerError: Error, CustomStringConvertible, Equatable {
    case running(String)
    case stillAlive(String)

    public var description: String {
        switch self {
        case .running(let n):
            return "cannot remove container \"\(n)\": container is running: stop it first or force the removal (minirt rm -f \(n))"
        case .stillAlive(let n):
            return "container \"\(n)\" did not die after SIGKILL within 10 seconds: try again"
        }
    }
}

/// The high-level operations behind the CLI verbs, over one state store and one image store.
public struct Containers: Sendable {
    public let store: StateStore
    public let images: ImageStore

    public init(store: StateStore, images: ImageStore) {
        self.store = store
        self.images = images
    }

    // MARK: run

    /// Runs a container in the foreground and returns `docker run`'s exit code.
    /// Every failure before the process starts removes what was created.
    public func run(_ o: RunOptions) throws -> Int32 {
        guard geteuid() == 0 else { throw RunError.notRoot }
        if let n = o.name, !StateStore.isValidName(n) { throw StateError.invalidName(n) }
        let image = try images.resolve(o.image)
        let id = StateStore.newID()
        let directory = store.directory(id)
        let plan = try RunPlan.make(o, image: image, id: id, name: o.name ?? NameGenerator.make(),
                                    directory: directory, hostEnv: ProcessInfo.processInfo.environment,
                                    hostHostname: Self.hostHostname())
        var record = try createWithFreshName(plan.record, generated: o.name == nil)

        let spawned: SpawnedProcess
        do {
            for sub in ["upper", "work", "rootfs"] { try StateStore.makeDirectory("\(directory)/\(sub)") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try StateStore.writeAtomically(try encoder.encode(plan.spec), to: "\(directory)/config.json")

            let devNull = o.interactive ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { if devNull >= 0 { close(devNull) } }
            SignalForwarding.block()
            // SIGKILL when minirt dies: a foreground container never outlives its runner.
            spawned = try Engine.spawn(plan.spec, bundle: directory,
                                       io: SpawnIO(stdin: o.interactive ? 0 : devNull),
                                       consoleSize: o.tty ? ForegroundMonitor.terminalSize() : nil,
                                       parentDeathSignal: SIGKILL)
        } catch {
            try? store.remove(id)
            throw error
        }

        // This process is the container's runner: it alone writes its state while
        // it runs, so the record in hand is current (rm may only remove it).
        record.state.status = .running
        record.state.pid = spawned.pid
        record.state.pidStartTime = ProcessIdentity.startTime(of: spawned.pid) ?? 0
        record.state.startedAt = .now()
        _ = try? store.save(record)

        let monitor = ForegroundMonitor(pid: spawned.pid, consoleMaster: spawned.consoleMaster,
                                        forwardStdin: o.interactive)
        let code = exitCode(fromWaitStatus: monitor.run())
        if o.autoRemove {
            try? store.remove(id, name: record.name)
        } else {
            record.state.status = .exited
            record.state.exitCode = code
            record.state.pid = 0
            record.state.finishedAt = .now()
            _ = try? store.save(record)
        }
        return code
    }

    /// A generated name may collide with one in use: draw again a few times.
    private func createWithFreshName(_ record: ContainerRecord, generated: Bool) throws -> ContainerRecord {
        var r = record
        for attempt in 1... {
            do {
                try store.create(r)
                return r
            } catch StateError.nameInUse where generated && attempt < 8 {
                r.name = "\(NameGenerator.make())_\(attempt + 1)"
            }
        }
        fatalError("unreachable")
    }

    static func hostHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: queries

    /// The record with its status made true: a container whose process is gone
    /// (its runner was killed) is recorded as exited, never shown as running.
    public func refreshed(_ record: ContainerRecord) -> ContainerRecord {
        guard record.state.status == .running, !Self.isAlive(record) else { return record }
        let updated = try? store.update(record.id) { r in
            guard r.state.status == .running, !Self.isAlive(r) else { return }
            r.state.status = .exited
            r.state.exitCode = 255
            r.state.error = "the container's process vanished (its minirt run was killed); exit status unknown"
            r.state.pid = 0
            r.state.finishedAt = .now()
        }
        return updated ?? record
    }

    static func isAlive(_ r: ContainerRecord) -> Bool {
        ProcessIdentity.isAlive(pid: r.state.pid, startTime: r.state.pidStartTime) && !ProcessIdentity.isZombie(r.state.pid)
    }

    public func get(_ ref: String) throws -> ContainerRecord {
        refreshed(try store.load(try store.resolve(ref)))
    }

    /// Newest first, as `docker ps` lists them.
    public func list(all: Bool) -> [ContainerRecord] {
        store.all().map(refreshed).filter { all || $0.state.status == .running }
    }

    // MARK: rm

    public func remove(_ ref: String, force: Bool) throws {
        let record = try get(ref)
        if record.state.status == .running {
            guard force else { throw ContainerError.running(record.name) }
            if ProcessIdentity.isAlive(pid: record.state.pid, startTime: record.state.pidStartTime) {
                kill(record.state.pid, SIGKILL)
            }
            // Bounded wait for the kernel to tear the container down.
            var waited = 0
            while Self.isAlive(record) && waited < 10_000 {
                usleep(5_000)
                waited += 5
            }
            if Self.isAlive(record) { throw ContainerError.stillAlive(record.name) }
        }
        try store.remove(record.id)
    }
}
