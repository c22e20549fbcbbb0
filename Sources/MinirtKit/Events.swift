import FoundationEssentials
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// docker's events, recorded by the minirt process that made them happen (see
/// EventJournal) and read back by `minirt events`.
extension Containers {
    public var journal: EventJournal { EventJournal(root: store.root) }

    /// A container event: docker's attributes (the labels, image, name) and the event's own.
    func emit(_ action: String, _ r: ContainerRecord, _ extra: [String: String] = [:]) {
        journal.append(Event(type: "container", action: action, id: r.id, attributes: Self.attributes(r, extra)))
    }

    static func attributes(_ r: ContainerRecord, _ extra: [String: String]) -> [String: String] {
        var a = r.config.labels
        a["image"] = r.image
        a["name"] = r.name
        for (k, v) in extra { a[k] = v }
        return a
    }
}

extension Containers {
    /// docker's image events (tag, untag, delete, import, load, save): the image is the actor.
    public func imageEvent(_ action: String, _ name: String) {
        journal.append(Event(type: "image", action: action, id: name, attributes: ["name": name]))
    }
}

extension EventJournal {
    /// docker's volume create and destroy.
    func volume(_ action: String, _ name: String) {
        append(Event(type: "volume", action: action, id: name, attributes: ["driver": "local"]))
    }

    /// docker's network connect/disconnect: the network is the actor.
    func network(_ action: String, _ r: ContainerRecord, network: String) {
        append(Event(type: "network", action: action, id: network, attributes: ["container": r.id, "name": network, "type": "bridge"]))
    }
}

/// `events --since/--until/--filter`: which events to show.
public struct EventQuery: Sendable {
    public var since: Timestamp?
    public var until: Timestamp?
    var terms: [String: [String]] = [:]
    static let keys = ["container", "event", "image", "label", "network", "type", "volume"]

    /// Times as docker reads them: Unix seconds (with a fraction), RFC 3339, or
    /// a Go duration before now ("10m").
    public static func time(_ text: String, flag: String, now: Timestamp = .now()) throws -> Timestamp {
        if let t = Timestamp(rfc3339: text) { return t }
        if let secs = Double(text), secs >= 0, secs < 1e11 { return Timestamp(nanoseconds: Int64(secs * 1e9)) }
        if let ago = GoDuration.parse(text) { return Timestamp(nanoseconds: now.nanoseconds - ago) }
        throw RunError.invalid("invalid \(flag) \(Validate.printable(text)): give a Unix time, an RFC 3339 time or a duration such as 10m")
    }

    public init(since: String?, until: String?, filters: [String], now: Timestamp = .now()) throws {
        self.since = try since.map { try Self.time($0, flag: "--since", now: now) }
        self.until = try until.map { try Self.time($0, flag: "--until", now: now) }
        for f in filters {
            let kv = f.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, Self.keys.contains(kv[0]) else {
                throw RunError.invalid("invalid filter \"\(Validate.printable(f))\": use one of \(Self.keys.joined(separator: ", ")) as KEY=VALUE")
            }
            terms[kv[0], default: []].append(kv[1])
        }
    }

    /// Same keys OR, different keys AND, as docker's filters.
    public func matches(_ e: Event) -> Bool {
        if let since, e.timeNano < since.nanoseconds { return false }
        if let until, e.timeNano > until.nanoseconds { return false }
        let a = e.Actor.Attributes
        return terms.allSatisfy { key, values in
            values.contains { v in
                switch key {
                case "container": return e.Type == "container" ? (e.Actor.ID.hasPrefix(v) || a["name"] == v) : (a["container"].map { $0.hasPrefix(v) } ?? false)
                // "health_status" matches "health_status: healthy", as docker's.
                case "event": return e.Action == v || e.Action.hasPrefix(v + ":")
                case "image": return a["image"] == v
                case "label":
                    let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
                    return a[kv[0]].map { kv.count == 1 || $0 == kv[1] } ?? false
                case "network": return e.Type == "network" && (e.Actor.ID == v || a["name"] == v)
                case "type": return e.Type == v
                case "volume": return e.Type == "volume" && e.Actor.ID == v
                default: return false
                }
            }
        }
    }

    /// docker's line: `TIME TYPE ACTION ID (key=value, ...)`, attributes sorted.
    public static func line(_ e: Event) -> String {
        let attrs = e.Actor.Attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return "\(Timestamp(nanoseconds: e.timeNano).rfc3339) \(e.Type) \(e.Action) \(e.Actor.ID)" + (attrs.isEmpty ? "" : " (\(attrs))")
    }
}

extension EventJournal {
    /// Calls `show` for each recorded event the query matches and then, unless
    /// `until` has passed, for each new one as it is written (inotify on the
    /// state root: no polling, no daemon). `show` returns false to stop.
    public func follow(_ q: EventQuery, history: Bool, _ show: (Event) -> Bool) {
        var seen = 0 // bytes of events.log already read
        var st = stat()
        if history {
            for e in EventJournal.parse(EventJournal.contents(previousPath)) where q.matches(e) { if !show(e) { return } }
        }
        let inotify = inotify_init1(Int32(IN_CLOEXEC))
        defer { if inotify >= 0 { close(inotify) } }
        if inotify >= 0 { _ = inotify_add_watch(inotify, root, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO)) }
        var first = true
        while true {
            // A rotation makes a new file: start it from its beginning.
            if stat(path, &st) != 0 || Int(st.st_size) < seen { seen = 0 }
            let bytes = EventJournal.contents(path, from: seen)
            // Only whole lines: a line being written is read on the next round.
            if let last = bytes.lastIndex(of: 0x0a) {
                seen += last + 1
                // Without --since/--until only what happens from now on, as docker's.
                if history || !first {
                    for e in EventJournal.parse(bytes[...last]) where q.matches(e) { if !show(e) { return } }
                }
            }
            first = false
            if let until = q.until, Timestamp.now().nanoseconds >= until.nanoseconds { return }
            guard inotify >= 0 else { usleep(200_000); continue }
            var p = pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)
            let wait: Int32 = q.until.map { Int32(clamping: max(1, ($0.nanoseconds - Timestamp.now().nanoseconds) / 1_000_000)) } ?? -1
            if poll(&p, 1, wait) > 0 {
                var buf = [UInt8](repeating: 0, count: 4096)
                _ = read(inotify, &buf, buf.count)
            }
        }
    }
}
