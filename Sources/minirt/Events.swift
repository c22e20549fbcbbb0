import ArgumentParser
import FoundationEssentials
import MinirtKit
import MinirtState
#if canImport(Glibc)
import Glibc
#endif

/// `minirt events`: docker's event stream, read from the journal every minirt
/// process appends to (there is no daemon to ask).
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Show what happens to containers and networks, live.",
        discussion: "Without --since or --until only new events are shown, until interrupted.")

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Show events since this time (Unix seconds, RFC 3339, or a duration ago such as 10m).", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Stop at this time (as --since); with it, events ends.", valueName: "time"))
    var until: String?

    @Option(name: [.short, .long], help: ArgumentHelp("container, event, image, label, network, type or volume=VALUE.", valueName: "filter"))
    var filter: [String] = []

    @Option(help: ArgumentHelp("json (one object a line) or a Go template such as '{{.Action}} {{.Actor.ID}}'.", valueName: "format"))
    var format: String?

    func run() throws {
        do {
            let query = try EventQuery(since: since, until: until, filters: filter)
            let template = format == nil || format == "json" ? nil : try Template(format!)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var failure: Error?
            global.containers().journal.follow(query, history: since != nil || until != nil) { e in
                do {
                    if let template { print(try template.render(e)) }
                    else if format == "json" { print(String(decoding: try encoder.encode(e), as: UTF8.self)) }
                    else { print(EventQuery.line(e)) }
                    fflush(nil) // each event as it comes, also into a pipe
                    return true
                } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
