import ArgumentParser
import MinirtKit
#if canImport(Glibc)
import Glibc
#endif

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a container's filesystem as a tar archive (stdout or -o).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file")) var output: String?
    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container")) var container: String

    func run() throws {
        do {
            var fd: Int32 = 1
            if let output {
                fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw RunError.invalid("cannot write \(output): \(String(cString: strerror(errno)))") }
            } else if isatty(1) != 0 {
                // docker's words: a tar on a terminal helps nobody.
                throw RunError.invalid("cowardly refusing to save to a terminal: use the -o flag or redirect")
            }
            defer { if fd != 1 { close(fd) } }
            try global.containers().export(container, to: fd)
        } catch {
            if let output { unlink(output) }
            throw fail(error, defaultCode: 1)
        }
    }
}
