import ArgumentParser
import FoundationEssentials
import MinirtKit

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show CPU, memory, network, block I/O and process counts of containers.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Show all containers (default: running ones).")
    var all = false

    @Flag(name: .customLong("no-stream"), help: "Print one sample and exit.")
    var noStream = false

    @Option(help: ArgumentHelp("table, json (one object a line) or a Go template such as '{{.Name}} {{.CPUPerc}}'.", valueName: "format"))
    var format = "table"

    @Argument(help: ArgumentHelp("Containers (default: all running).", valueName: "container"))
    var containers: [String] = []

    func run() throws {
        do {
            let c = global.containers()
            let template = format == "table" || format == "json" ? nil : try Template(format)
            // Streaming redraws the screen once a second until interrupted, as docker stats does.
            while true {
                let rows = c.stats(try c.statsTargets(containers, all: all), interval: noStream ? 0.5 : 1.0)
                var out = noStream ? "" : "\u{1B}[2J\u{1B}[H"
                if let template {
                    for r in rows { out += try template.render(r) + "\n" }
                } else if format == "json" {
                    let e = JSONEncoder()
                    e.outputFormatting = [.sortedKeys]
                    for r in rows { out += String(decoding: try e.encode(r), as: UTF8.self) + "\n" }
                } else {
                    out += formatTable([StatsRow.headers] + rows.map(\.cells))
                }
                print(out, terminator: "")
                if noStream { return }
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
