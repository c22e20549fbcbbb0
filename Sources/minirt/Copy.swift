import ArgumentParser
import MinirtKit

struct Copy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp", abstract: "Copy files between a running container and the host (CONTAINER:PATH on one side).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Keep owners (uid and gid).") var archive = false
    @Flag(name: [.customShort("L"), .customLong("follow-link")], help: "Follow a symlink given as the source.") var followLink = false
    @Argument(help: ArgumentHelp("CONTAINER:SRC or a host path.", valueName: "source")) var source: String
    @Argument(help: ArgumentHelp("A host path or CONTAINER:DEST.", valueName: "destination")) var destination: String

    func run() throws {
        do {
            var o = Containers.CopyOptions()
            o.archive = archive
            o.followLink = followLink
            func split(_ s: String) -> (String, String)? {
                // CONTAINER:PATH; a host path with a colon is written ./a:b, as with docker.
                guard !s.hasPrefix("/"), !s.hasPrefix("."), let colon = s.firstIndex(of: ":") else { return nil }
                return (String(s[..<colon]), String(s[s.index(after: colon)...]))
            }
            // docker's tar streams: `cp C:SRC -` writes one, `cp - C:DEST` reads one.
            if destination == "-" {
                guard let (c, path) = split(source) else { throw RunError.invalid("cp SRC -: the source must be CONTAINER:PATH") }
                try global.containers().copyOutArchive(c, from: path, to: 1, o)
                return
            }
            if source == "-" {
                guard let (c, path) = split(destination) else { throw RunError.invalid("cp - DEST: the destination must be CONTAINER:PATH") }
                try global.containers().copyInArchive(c, from: 0, to: path, o)
                return
            }
            switch (split(source), split(destination)) {
            case (let (c, path)?, nil): try global.containers().copyOut(c, from: path, to: destination, o)
            case (nil, let (c, path)?): try global.containers().copyIn(c, from: source, to: path, o)
            case (_?, _?): throw RunError.invalid("copying between containers is not supported: copy through the host")
            case (nil, nil): throw RunError.invalid("must specify at least one container source: CONTAINER:PATH")
            }
        } catch { throw fail(error, defaultCode: 1) }
    }
}
