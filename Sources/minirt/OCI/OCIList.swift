import ArgumentParser
import FoundationEssentials
import MinirtKit

struct OCIList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", _superCommandName: "oci", abstract: "List the containers of this state root.")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("table or json.", valueName: "format")) var format = "table"
    @Flag(name: [.short, .long], help: "Only ids.") var quiet = false
    func run() throws {
        try global.run { c in
            let states = c.list()
            if quiet { states.forEach { print($0.id) }; return }
            if format == "json" {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(states), as: UTF8.self))
                return
            }
            guard format == "table" else { throw OCIError("invalid format option \"\(format)\": use table or json") }
            print(formatTable([["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
                + states.map { [$0.id, "\($0.pid)", $0.status, $0.bundle, $0.created, "root"] }), terminator: "")
        }
    }
}

struct OCIPs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", _superCommandName: "oci", abstract: "The processes of a container (json: their host pids).")
    @OptionGroup var global: OCIGlobalOptions
    @Option(name: [.short, .long], help: ArgumentHelp("table or json.", valueName: "format")) var format = "table"
    @Argument var id: String
    func run() throws {
        try global.run { c in
            let pids = try c.processes(id)
            if format == "json" { print("[" + pids.map(String.init).joined(separator: ",") + "]"); return }
            guard format == "table" else { throw OCIError("invalid format option \"\(format)\": use table or json") }
            print("PID\tCMD")
            for pid in pids { print("\(pid)\t\(OCIContainers.commandLine(of: pid))") }
        }
    }
}
