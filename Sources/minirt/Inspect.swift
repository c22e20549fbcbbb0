import ArgumentParser
import FoundationEssentials
import MinirtKit
import MinirtState

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show low-level information on containers as JSON.")

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: ArgumentHelp("Go template, e.g. '{{.State.Pid}}' or '{{json .Config}}'.", valueName: "template"))
    var format: String?

    @Argument(help: ArgumentHelp("Container names or ids.", valueName: "container"))
    var containers: [String]

    func run() throws {
        do {
            let template = try format.map(Template.init)
            let c = global.containers()
            var views: [InspectView] = []
            var missing: [String] = []
            for ref in containers {
                do {
                    let r = try c.get(ref)
                    views.append(InspectView(r, directory: c.store.directory(r.id)))
                } catch StateError.noSuchContainer {
                    missing.append(ref)
                }
            }
            try printViews(views, template: template)
            if !missing.isEmpty {
                var err = StandardError()
                for m in missing { print("minirt: no such container: \(m)", to: &err) }
                throw ExitCode(1)
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}
