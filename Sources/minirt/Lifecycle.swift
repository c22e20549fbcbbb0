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
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do {
            let c = global.containers()
            try LogPrinter(containers: c, record: try c.get(container), follow: follow, tail: tail, timestamps: timestamps).run()
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

/// Reads container.log (JSON lines: log, stream, time) and prints each entry to
/// the stream it came from.
struct LogPrinter {
    let containers: Containers
    let record: ContainerRecord
    let follow: Bool
    let tail: Int?
    let timestamps: Bool

    struct Entry: Decodable { var log: String; var stream: String; var time: String }

    func run() throws {
        let path = containers.store.directory(record.id) + "/container.log"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if access(containers.store.directory(record.id), F_OK) != 0 { throw StateError.noSuchContainer(record.name) }
            return // ran in the foreground only: nothing captured
        }
        defer { close(fd) }
        var carry = [UInt8]()
        var first = true
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n > 0 {
                carry += buf[0..<n]
                continue
            }
            var lines = carry.split(separator: 0x0a, omittingEmptySubsequences: true)
            if carry.last != 0x0a, let last = lines.popLast() { carry = Array(last) } else { carry = [] }
            if first, let tail { lines = Array(lines.suffix(tail)) }
            first = false
            for line in lines {
                guard let e = try? JSONDecoder().decode(Entry.self, from: Data(line)) else { continue }
                let text = (timestamps ? e.time + " " : "") + e.log
                var bytes = Array(text.utf8)
                _ = bytes.withUnsafeMutableBytes { write(e.stream == "stderr" ? 2 : 1, $0.baseAddress, $0.count) }
            }
            guard follow else { return }
            // Bounded by the container's life: stop once it no longer runs and all is read.
            if (try? containers.get(record.id))?.state.status != .running {
                let more = read(fd, &buf, buf.count)
                if more <= 0 { return }
                carry += buf[0..<more]
                continue
            }
            usleep(100_000)
        }
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
