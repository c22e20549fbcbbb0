import ArgumentParser
import FoundationEssentials
import MinirtKit
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start stopped containers (detached, under a supervisor).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Attach: follow the output and exit with the container's status.") var attach = false
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        var failed = false
        for ref in containers {
            do {
                let tools = try Executables.locate()
                let r = try c.start(ref, minirt: tools.minirt, supervisor: tools.supervisor)
                if attach {
                    try LogPrinter(containers: c, record: r, follow: true, tail: nil, timestamps: false).run()
                    let code = try c.wait(r.id)
                    if code != 0 { throw ExitCode(code) }
                } else {
                    print(ref)
                }
            } catch let e as ExitCode {
                throw e
            } catch {
                _ = fail(error, defaultCode: 1)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop containers: the stop signal, then SIGKILL after the timeout.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("time"), .customLong("timeout")], parsing: .unconditional, help: "Seconds to wait before SIGKILL (default the container's --stop-timeout, or 10).") var time: Int?
    @Option(name: [.short, .long], help: "Signal to send instead of the image's StopSignal.") var signal: String?
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { try c.stop($0, timeout: time, signal: signal) }
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Stop then start containers.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("time")], parsing: .unconditional, help: "Seconds to wait before SIGKILL (default the container's --stop-timeout, or 10).") var time: Int?
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { ref in
            try c.stop(ref, timeout: time)
            let tools = try Executables.locate()
            _ = try c.start(ref, minirt: tools.minirt, supervisor: tools.supervisor)
        }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Send a signal (default SIGKILL) to containers' init.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: "Signal name or number.") var signal = "KILL"
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        try forEachName(containers) { try c.kill($0, signal: signal) }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for containers to stop and print their exit codes.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container")) var containers: [String]

    func run() throws {
        let c = global.containers()
        for ref in containers {
            do { print(try c.wait(ref)) } catch { throw fail(error, defaultCode: 1) }
        }
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a container's output (stdout and stderr).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Follow the output until the container stops.") var follow = false
    @Option(name: [.customShort("n"), .long], help: "Only the last N lines.") var tail: Int?
    @Flag(name: [.short, .long], help: "Show timestamps.") var timestamps = false
    @Option(help: ArgumentHelp("Only output since this time (Unix seconds, RFC 3339, or a duration ago such as 10m).", valueName: "time")) var since: String?
    @Option(help: ArgumentHelp("Only output before this time (as --since).", valueName: "time")) var until: String?
    @Flag(help: "Show extra details (docker's log attributes: minirt records none).") var details = false
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do {
            let c = global.containers()
            let record = try c.get(container)
            if record.hostConfig.logConfig?.type == "none" {
                throw RunError.invalid("configured logging driver does not support reading (the container logs with --log-driver none)")
            }
            var printer = LogPrinter(containers: c, record: record, follow: follow, tail: tail, timestamps: timestamps)
            printer.since = try since.map { try EventQuery.time($0, flag: "--since") }
            printer.until = try until.map { try EventQuery.time($0, flag: "--until") }
            try printer.run()
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

/// Reads container.log (JSON lines: log, stream, time), after the files a
/// rotation left (container.log.N … .1, oldest first), and prints each entry to
/// the stream it came from. Following, it notices a rotation (the path names a
/// new file) and goes on in the new one.
struct LogPrinter {
    let containers: Containers
    let record: ContainerRecord
    let follow: Bool
    let tail: Int?
    let timestamps: Bool
    var since: Timestamp?
    var until: Timestamp?

    struct Entry: Decodable { var log: String; var stream: String; var time: String }

    func run() throws {
        let directory = containers.store.directory(record.id)
        let path = directory + "/container.log"
        guard access(directory, F_OK) == 0 else { throw StateError.noSuchContainer(record.name) }
        let keep = LogOptions.rotation(record.hostConfig.logConfig)?.maxFiles ?? 1
        var older: [UInt8] = []
        for n in stride(from: max(keep - 1, 0), through: 1, by: -1) {
            older += EventJournal.contents(LogOptions.rotated(path, n))
        }
        var fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 || !older.isEmpty else { return } // ran in the foreground only: nothing captured
        defer { if fd >= 0 { close(fd) } }
        var watch: Int32 = -1 // following: inotify on the container's folder, made at the first wait (-2: none)
        defer { if watch >= 0 { close(watch) } }
        var carry = older
        var first = true
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fd >= 0 ? read(fd, &buf, buf.count) : 0
            if n > 0 {
                carry += buf[0..<n]
                continue
            }
            var lines = carry.split(separator: 0x0a, omittingEmptySubsequences: true)
            if carry.last != 0x0a, let last = lines.popLast() { carry = Array(last) } else { carry = [] }
            var entries = lines.compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0)) }.filter(inWindow)
            if first, let tail { entries = Array(entries.suffix(tail)) }
            first = false
            for e in entries {
                let text = (timestamps ? e.time + " " : "") + e.log
                var bytes = Array(text.utf8)
                _ = bytes.withUnsafeMutableBytes { write(e.stream == "stderr" ? 2 : 1, $0.baseAddress, $0.count) }
            }
            guard follow, until.map({ Timestamp.now().nanoseconds < $0.nanoseconds }) ?? true else { return }
            // Rotated: what is left of the old file is read; then the new one.
            if fd >= 0, rotated(fd, path) {
                let more = read(fd, &buf, buf.count)
                if more > 0 { carry += buf[0..<more]; continue }
                close(fd)
                fd = open(path, O_RDONLY | O_CLOEXEC)
                continue
            }
            // Bounded by the container's life: stop once it no longer runs and all is read.
            if (try? containers.get(record.id))?.state.status != .running {
                let more = fd >= 0 ? read(fd, &buf, buf.count) : 0
                if more <= 0 { return }
                carry += buf[0..<more]
                continue
            }
            if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
            // Woken by the next write to the log, a rotation or the state's rename at the
            // exit; at least once a second all the same (and by --until).
            if watch == -1 {
                let w = inotify_init1(Int32(IN_CLOEXEC))
                if w >= 0 && inotify_add_watch(w, directory, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO)) >= 0 {
                    watch = w
                    continue // what was written before the watch existed is read first
                }
                if w >= 0 { close(w) }
                watch = -2 // no inotify here: a poll every 100 ms
            }
            guard watch >= 0 else { usleep(100_000); continue }
            let ms = until.map { Int32(clamping: max(1, ($0.nanoseconds - Timestamp.now().nanoseconds) / 1_000_000)) } ?? 1000
            var p = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, min(ms, 1000)) > 0 {
                var events = [UInt8](repeating: 0, count: 4096)
                _ = read(watch, &events, events.count)
            }
        }
    }

    func inWindow(_ e: Entry) -> Bool {
        guard since != nil || until != nil else { return true }
        guard let t = Timestamp(rfc3339: e.time) else { return false }
        if let since, t.nanoseconds < since.nanoseconds { return false }
        if let until, t.nanoseconds > until.nanoseconds { return false }
        return true
    }

    /// Whether the path now names another file than the open one.
    func rotated(_ fd: Int32, _ path: String) -> Bool {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0 else { return false }
        return stat(path, &named) != 0 || named.st_ino != open.st_ino
    }
}

/// `minirt __start ID` and `minirt __exited ID STATUS`: run by minirt-supervisor.
struct InternalStart: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__start", shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument var id: String

    func run() throws {
        do { try global.containers().startDetached(id) } catch { throw fail(error, defaultCode: 125) }
    }
}

struct InternalExited: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__exited", shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument var id: String
    @Argument var status: Int32

    func run() throws {
        // 75 asks the supervisor for another start (restart policy).
        if global.containers().finishDetached(id, waitStatus: status) { throw ExitCode(75) }
    }
}

/// `minirt __health ID`: one health check, run by the supervisor on the container's schedule.
struct InternalHealth: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__health", shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument var id: String

    func run() throws {
        do { try global.containers().runHealthCheck(id) } catch { throw fail(error, defaultCode: 1) }
    }
}
