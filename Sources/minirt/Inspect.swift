import ArgumentParser
import FoundationEssentials
import MinirtKit
import MinirtState

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show low-level information on containers, images, networks or volumes as JSON.")

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: ArgumentHelp("Go template, e.g. '{{.State.Pid}}' or '{{json .Config}}'.", valueName: "template"))
    var format: String?

    @Option(help: ArgumentHelp("container, image, network or volume (default: the first kind that has the name, in that order).", valueName: "type"))
    var type: String?

    @Flag(name: [.short, .long], help: "With containers: SizeRw (the writable layer) and SizeRootFs (with the image).")
    var size = false

    @Argument(help: ArgumentHelp("Names or ids.", valueName: "name"))
    var names: [String]

    func run() throws {
        do {
            let template = try format.map(Template.init)
            guard type.map({ ["container", "image", "network", "volume"].contains($0) }) ?? true else {
                throw RunError.invalid("invalid --type \(type ?? ""): use container, image, network or volume")
            }
            let c = global.containers()
            var views: [any Encodable] = []
            var missing: [String] = []
            for ref in names {
                if let view = try find(ref, in: c) { views.append(view) } else { missing.append(ref) }
            }
            try printViews(views.map(AnyView.init), template: template)
            if !missing.isEmpty {
                var err = StandardError()
                for m in missing { print("minirt: no such \(type ?? "object"): \(m)", to: &err) }
                throw ExitCode(1)
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }

    /// The object the name means, of the kind asked for or of the first kind that has it.
    func find(_ ref: String, in c: Containers) throws -> (any Encodable)? {
        let kinds = type.map { [$0] } ?? ["container", "image", "network", "volume"]
        for kind in kinds {
            switch kind {
            case "container":
                let r: ContainerRecord
                do { r = try c.get(ref) } catch StateError.noSuchContainer { continue }
                // Any other error (an unreadable record) is the answer: with its way out.
                var view = InspectView(r, directory: c.store.directory(r.id))
                if size {
                    let own = c.layerSize(r)
                    view.SizeRw = Int64(own)
                    view.SizeRootFs = Int64(own + DiskUsage.bytes(of: r.rootfs))
                }
                return view
            case "image":
                if let i = try? c.images.resolve(ref), i.folder != nil { return ImageView(i) }
            case "network":
                if let v = c.networkViews().first(where: { $0.Name == ref }) { return v }
            default:
                if let v = try? c.volumes.view(ref) { return v }
            }
        }
        return nil
    }
}

/// Views of several kinds in one array, encoded as themselves.
struct AnyView: Encodable {
    let view: any Encodable
    init(_ view: any Encodable) { self.view = view }
    func encode(to encoder: Encoder) throws { try view.encode(to: encoder) }
}
