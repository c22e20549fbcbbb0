import ArgumentParser
import FoundationEssentials
import MinirtKit
import MinirtState

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List containers (running ones unless -a).", aliases: ["ps"])

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Show all containers, not only running ones.")
    var all = false

    @Flag(name: [.short, .long], help: "Only print container ids.")
    var quiet = false

    @Flag(name: .customLong("no-trunc"), help: "Do not truncate ids and commands.")
    var noTrunc = false

    @Option(name: [.short, .long], help: ArgumentHelp("label=, name=, id=, status=, exited=, ancestor=, network=, publish=, expose=, volume=, before=, since= (repeatable).", valueName: "filter"))
    var filter: [String] = []

    @Option(name: [.customShort("n"), .customLong("last")], help: ArgumentHelp("The N containers created last (any state).", valueName: "n"))
    var last: Int?

    @Flag(name: [.short, .long], help: "The container created last (any state).")
    var latest = false

    @Option(help: ArgumentHelp("table, json (one object a line), or a Go template such as '{{.Names}}'.", valueName: "format"))
    var format = "table"

    @Flag(name: [.short, .long], help: "Show each container's writable layer size (and with its image's, the virtual size).")
    var size = false

    func run() throws {
        do {
            let now = Timestamp.now()
            let containers = global.containers()
            let matching = try ContainerFilter(filter) { try? containers.get($0) }
            if let n = last, n < 0 { throw RunError.invalid("invalid --last \(n): give a number of containers") }
            let newest = latest ? 1 : last
            // status and exited filters, -n and -l look at every container, as docker's do.
            let everything = all || matching.looksAtAll || newest != nil
            var records = containers.list(all: everything).filter(matching.matches)
            if let newest { records = Array(records.sorted { $0.created.nanoseconds > $1.created.nanoseconds }.prefix(newest)) }
            var imageSizes: [String: UInt64] = [:]
            var rows = records.map { r in
                var row = PsRow(r, now: now, truncate: !noTrunc)
                if size {
                    let own = containers.layerSize(r)
                    if imageSizes[r.rootfs] == nil { imageSizes[r.rootfs] = DiskUsage.bytes(of: r.rootfs) }
                    row.Size = "\(StatsRow.decimal(own)) (virtual \(StatsRow.decimal(own + imageSizes[r.rootfs, default: 0])))"
                }
                return row
            }
            if all && filter.isEmpty && newest == nil { rows += containers.store.broken().map { PsRow(brokenID: $0, truncate: !noTrunc) } }
            if quiet {
                for r in rows { print(r.ID) }
            } else {
                try printRows(rows, format: format) {
                    size ? [PsRow.headers + ["SIZE"]] + rows.map { $0.cells + [$0.Size ?? ""] } : [PsRow.headers] + rows.map(\.cells)
                }
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
