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

    @Option(name: [.short, .long], help: ArgumentHelp("label=KEY[=VALUE], name=NAME, id=ID or status=STATUS (repeatable).", valueName: "filter"))
    var filter: [String] = []

    @Option(help: ArgumentHelp("table, json (one object a line), or a Go template such as '{{.Names}}'.", valueName: "format"))
    var format = "table"

    func run() throws {
        do {
            let now = Timestamp.now()
            let containers = global.containers()
            let matching = try ContainerFilter(filter)
            // A status filter looks at every container, as docker's does.
            let everything = all || filter.contains { $0.hasPrefix("status=") }
            var rows = containers.list(all: everything).filter(matching.matches).map { PsRow($0, now: now, truncate: !noTrunc) }
            if all && filter.isEmpty { rows += containers.store.broken().map { PsRow(brokenID: $0, truncate: !noTrunc) } }
            if quiet {
                for r in rows { print(r.ID) }
            } else if format == "table" {
                print(formatTable([PsRow.headers] + rows.map(\.cells)), terminator: "")
            } else if format == "json" {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for r in rows { print(String(decoding: try e.encode(r), as: UTF8.self)) }
            } else {
                let t = try Template(format)
                for r in rows { print(try t.render(r)) }
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
