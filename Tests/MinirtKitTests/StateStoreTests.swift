import Testing
import FoundationEssentials
import MinirtState
import Glibc

@Suite struct StateStoreTests {
    func tempStore() throws -> StateStore {
        var template = Array("/tmp/minirt-unit-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return StateStore(root: dir)
    }

    func record(_ name: String) -> ContainerRecord {
        ContainerRecord(id: StateStore.newID(), name: name, created: .now(), image: "busybox", rootfs: "/r",
                        path: "true", args: [], config: .init(hostname: "h", image: "busybox"),
                        hostConfig: .init(networkMode: "none"))
    }

    @Test func namesFollowDockerRules() {
        for good in ["web", "a", "web-1.2_x", "A9"] { #expect(StateStore.isValidName(good), "\(good)") }
        for bad in ["", "../x", "a/b", "-x", ".x", "_x", "a b", "é", String(repeating: "a", count: 129)] {
            #expect(!StateStore.isValidName(bad), "\(bad)")
        }
    }

    @Test func idsAre64Hex() {
        let id = StateStore.newID()
        #expect(StateStore.isID(id))
        #expect(id != StateStore.newID())
    }

    @Test func createResolveUpdateRemove() throws {
        let store = try tempStore()
        defer { try? FileManager.default.removeItem(atPath: store.root) }
        let r = record("web")
        try store.create(r)
        #expect(try store.resolve("web") == r.id)
        #expect(try store.resolve(String(r.id.prefix(12))) == r.id)
        #expect(throws: StateError.nameInUse(name: "web", id: r.id)) { try store.create(record("web")) }
        #expect(throws: StateError.noSuchContainer("nope")) { try store.resolve("nope") }

        let updated = try store.update(r.id) { $0.state.exitCode = 7 }
        #expect(updated?.state.exitCode == 7)
        #expect(try store.load(r.id).state.exitCode == 7)

        try store.remove(r.id)
        #expect(throws: StateError.noSuchContainer("web")) { try store.resolve("web") }
        #expect(try store.update(r.id) { $0.state.exitCode = 1 } == nil)
        // The name is free again and nothing is left in the store.
        try store.create(record("web"))
        #expect(store.ids().count == 1)
    }

    @Test func staleNameLinkIsReclaimed() throws {
        let store = try tempStore()
        defer { try? FileManager.default.removeItem(atPath: store.root) }
        // A crash between removing a folder and its name leaves the link alone.
        try #require(mkdir(store.root + "/.names", 0o700) == 0)
        try #require(symlink(StateStore.newID(), store.root + "/.names/ghost") == 0)
        try store.create(record("ghost"))
        #expect(store.all().map(\.name) == ["ghost"])
    }

    @Test func ambiguousPrefix() throws {
        let store = try tempStore()
        defer { try? FileManager.default.removeItem(atPath: store.root) }
        var a = record("a"), b = record("b")
        a.id = "ab" + String(a.id.dropFirst(2))
        b.id = "ab" + String(b.id.dropFirst(2))
        try store.create(a)
        try store.create(b)
        #expect(throws: StateError.ambiguous("ab")) { try store.resolve("ab") }
    }
}

@Suite struct EventJournalTests {
    /// Past its bound the journal rotates once into events.log.1; both are read, oldest first.
    @Test func rotatesAndReadsBoth() throws {
        let root = "/tmp/minirt-test-journal-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let j = EventJournal(root: root)
        let n = EventJournal.maxBytes / 200 + 50
        for i in 0..<n { j.append(Event(type: "container", action: "start", id: String(i), attributes: ["name": String(repeating: "x", count: 100)])) }
        #expect(FileManager.default.fileExists(atPath: j.previousPath))
        let all = j.recorded()
        #expect(all.count == n && all.first?.Actor.ID == "0" && all.last?.Actor.ID == String(n - 1))
        var st = stat()
        #expect(stat(j.path, &st) == 0 && st.st_size < EventJournal.maxBytes)
        // A broken line (a hand edit, a crash mid-write) is skipped, not fatal.
        let fd = open(j.path, O_WRONLY | O_APPEND)
        _ = write(fd, "{not json\n", 10)
        close(fd)
        #expect(j.recorded().count == n)
    }
}
