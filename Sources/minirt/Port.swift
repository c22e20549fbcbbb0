import ArgumentParser
import MinirtKit

struct Port: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "port", abstract: "List a container's published ports, as docker port does.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Container name or id.", valueName: "container"))
    var container: String

    @Argument(help: ArgumentHelp("Only this container port, e.g. 80 or 80/tcp.", valueName: "port"))
    var port: String?

    func run() throws {
        do {
            let r = try global.containers().get(container)
            var found = false
            for b in r.hostConfig.portBindings {
                if let port, port != "\(b.containerPort)", port != b.containerKey { continue }
                found = true
                let host = "\(b.hostIP.isEmpty ? "0.0.0.0" : b.hostIP):\(b.hostPort)"
                print(port == nil ? "\(b.containerKey) -> \(host)" : host)
            }
            if let port, !found {
                throw PortLookupError(description: "no public port '\(port)' published for \(r.name)")
            }
        } catch {
            throw fail(error, defaultCode: 1)
        }
    }
}

struct PortLookupError: Error, CustomStringConvertible { var description: String }
