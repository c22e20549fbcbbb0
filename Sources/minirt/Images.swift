import ArgumentParser
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List the images in the image store.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Only print image names.")
    var quiet = false

    func run() throws {
        let images = global.containers().images.list()
        if quiet {
            for i in images { print(i.name) }
            return
        }
        let rows = images.map { i in
            [i.name, PsRow.quote(((i.config.Entrypoint ?? []) + (i.config.Cmd ?? [])).joined(separator: " ")), i.folder ?? ""]
        }
        print(formatTable([["IMAGE", "COMMAND", "PATH"]] + rows), terminator: "")
    }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage the image store.",
        discussion: "Images are built from Debian packages with rootfs-images/build RECIPE (see rootfs-images/).",
        subcommands: [ImageList.self, ImageImport.self, ImageRemove.self, ImageInspect.self, ImageTag.self, ImagePrune.self, ImageHistory.self, ImageSave.self, ImageLoad.self])
}

struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the images in the image store.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Only print image names.") var quiet = false
    func run() throws {
        var images = Images()
        images.global = global
        images.quiet = quiet
        try images.run()
    }
}

struct ImageImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import a rootfs directory, an image folder or a tar of a rootfs as an image.")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The image's default command, as a shell-split string (default: the image folder's, else none).", valueName: "command"))
    var cmd: String?
    @Argument(help: ArgumentHelp("Directory or tar file.", valueName: "source")) var source: String
    @Argument(help: ArgumentHelp("Name in the store.", valueName: "name")) var name: String
    func run() throws {
        do {
            let c = global.containers()
            let image = try c.images.importImage(source, name: name, cmd: cmd.map { $0.split(separator: " ").map(String.init) })
            c.imageEvent("import", image.name)
            print(image.name)
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Remove even if containers were made from it (they keep running from their own layers only while they run).")
    var force = false
    @Argument(help: ArgumentHelp("Image names.", valueName: "image")) var names: [String]
    func run() throws {
        let c = global.containers()
        try forEachName(names) { n in
            let tag = c.images.isTag(n)
            try c.images.remove(n, users: c.list(all: true), force: force)
            c.imageEvent(tag ? "untag" : "delete", n)
        }
    }
}

struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show images as JSON (inspect --type image).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("Go template.", valueName: "template")) var format: String?
    @Argument(help: ArgumentHelp("Image names.", valueName: "image")) var names: [String]
    func run() throws {
        var i = Inspect()
        i.global = global
        i.format = format
        i.type = "image"
        i.names = names
        try i.run()
    }
}

struct ImageTag: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag", abstract: "Give an image another name (a link in the store).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The image.", valueName: "source")) var source: String
    @Argument(help: ArgumentHelp("Its new name.", valueName: "target")) var target: String
    func run() throws {
        do {
            let c = global.containers()
            try c.images.tag(source, as: target)
            c.imageEvent("tag", target)
        } catch { throw fail(error, defaultCode: 1) }
    }
}

struct ImagePrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove unused images (-a: every image no container was made from).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Every image no container uses (the store has no dangling images, so without -a nothing goes).") var all = false
    @Flag(name: [.short, .long], help: "Do not ask (minirt never asks).") var force = false
    func run() throws {
        let c = global.containers()
        let removed = c.images.prune(all: all, users: c.list(all: true))
        for n in removed { c.imageEvent("delete", n) }
        if !removed.isEmpty { print("Deleted Images:\n" + removed.map { "untagged: \($0)" }.joined(separator: "\n") + "\n") }
        print("Total reclaimed images: \(removed.count)")
    }
}

struct ImageHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show how an image was made (one layer: the store keeps no others).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The image.", valueName: "image")) var image: String
    func run() throws {
        do {
            print(formatTable([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], try global.containers().images.history(image)]), terminator: "")
        } catch { throw fail(error, defaultCode: 1) }
    }
}

struct ImageSave: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "save", abstract: "Write an image as an OCI image layout tar (podman load reads it).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("The archive to write (default: stdout, when it is not a terminal).", valueName: "file")) var output: String?
    @Argument(help: ArgumentHelp("The image.", valueName: "image")) var image: String
    func run() throws {
        do {
            let fd: Int32
            if let output {
                fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw RunError.invalid("cannot write \(output): \(String(cString: strerror(errno)))") }
            } else {
                guard isatty(1) == 0 else { throw RunError.invalid("cowardly refusing to write an archive to a terminal: give -o FILE or redirect stdout") }
                fd = 1
            }
            defer { if fd != 1 { close(fd) } }
            let c = global.containers()
            do {
                try c.images.save(image, to: fd)
                c.imageEvent("save", image)
            } catch {
                if let output { unlink(output) }
                throw error
            }
        } catch { throw fail(error, defaultCode: 1) }
    }
}

struct ImageLoad: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Load an image from an OCI image layout tar or a docker archive.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("The archive (default: stdin).", valueName: "file")) var input: String?
    @Option(help: ArgumentHelp("The name in the store (default: the archive's, without :latest).", valueName: "name")) var name: String?
    @Flag(name: [.short, .long], help: "Print only the name.") var quiet = false
    func run() throws {
        do {
            let fd = input.map { open($0, O_RDONLY | O_CLOEXEC) } ?? 0
            guard fd >= 0 else { throw RunError.invalid("cannot read \(input ?? ""): \(String(cString: strerror(errno)))") }
            defer { if fd != 0 { close(fd) } }
            let c = global.containers()
            for image in try c.images.load(from: fd, name: name) {
                c.imageEvent("load", image.name)
                print(quiet ? image.name : "Loaded image: \(image.name)")
            }
        } catch { throw fail(error, defaultCode: 1) }
    }
}
