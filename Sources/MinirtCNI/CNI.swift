import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A runtime's side of the CNI specification
/// (https://github.com/containernetworking/cni/blob/main/SPEC.md): load network
/// configuration lists, run their plugins for ADD, CHECK and DEL, chain results.
public enum CNIError: Error, CustomStringConvertible, Equatable {
    case badConfig(String, reason: String)
    case pluginNotFound(String, searched: [String])
    case exec(String, String)
    case plugin(type: String, command: String, code: Int, msg: String, details: String)
    case badResult(type: String, reason: String)

    public var description: String {
        switch self {
        case .badConfig(let file, let reason):
            return "CNI config \(file) is malformed: \(reason); fix or remove it"
        case .pluginNotFound(let type, let searched):
            return "CNI plugin \"\(type)\" not found in \(searched.joined(separator: ":")): install containernetworking-plugins or set MINIRT_CNI_PATH"
        case .exec(let path, let why):
            return "cannot run CNI plugin \(path): \(why)"
        case .plugin(let type, let command, let code, let msg, let details):
            return "CNI plugin \"\(type)\" failed on \(command) (code \(code)): \(msg)\(details.isEmpty ? "" : " (\(details))")"
        case .badResult(let type, let reason):
            return "CNI plugin \"\(type)\" returned an unusable result: \(reason)"
        }
    }
}

/// A network configuration list (`.conflist`), plugins kept as JSON so that any
/// plugin's own fields pass through untouched.
public struct NetworkConfigList: Sendable, Equatable {
    public var cniVersion: String
    public var name: String
    public var disableCheck: Bool
    public var plugins: [JSONValue]
    /// The whole document, as loaded.
    public var raw: JSONValue

    public var types: [String] { plugins.compactMap { $0["type"]?.stringValue } }

    /// Parses a `.conflist`, or a single-plugin `.conf` (wrapped into a list).
    public init(data: Data, source: String) throws {
        let doc: JSONValue
        do { doc = try JSONValue.parse(data) } catch {
            throw CNIError.badConfig(source, reason: "not valid JSON")
        }
        guard case .object = doc else { throw CNIError.badConfig(source, reason: "the top level is not an object") }
        guard let name = doc["name"]?.stringValue, !name.isEmpty else {
            throw CNIError.badConfig(source, reason: "\"name\" is missing")
        }
        let version = doc["cniVersion"]?.stringValue ?? "1.0.0"
        var plugins: [JSONValue]
        if let list = doc["plugins"] {
            guard let a = list.arrayValue, !a.isEmpty else {
                throw CNIError.badConfig(source, reason: "\"plugins\" must be a non-empty list")
            }
            plugins = a
        } else if doc["type"] != nil {
            plugins = [doc]
        } else {
            throw CNIError.badConfig(source, reason: "neither \"plugins\" nor \"type\" is set")
        }
        for (i, p) in plugins.enumerated() {
            guard case .object = p else { throw CNIError.badConfig(source, reason: "plugin \(i) is not an object") }
            guard let t = p["type"]?.stringValue, !t.isEmpty, !t.contains("/") else {
                throw CNIError.badConfig(source, reason: "plugin \(i) has no valid \"type\"")
            }
        }
        self.cniVersion = version
        self.name = name
        self.disableCheck = doc["disableCheck"]?.boolValue ?? false
        self.plugins = plugins
        self.raw = doc
    }

    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CNIError.badConfig(file, reason: "cannot be read")
        }
        try self.init(data: data, source: file)
    }
}

/// One attachment of a container to a network: the `CNI_*` parameters.
public struct Attachment: Sendable, Equatable {
    public var containerID: String
    public var netns: String
    public var ifName: String
    public var args: [(String, String)]
    /// Values for plugins' declared capabilities, e.g. "portMappings".
    public var capabilityArgs: [String: JSONValue]

    public init(containerID: String, netns: String, ifName: String,
                args: [(String, String)] = [], capabilityArgs: [String: JSONValue] = [:]) {
        self.containerID = containerID; self.netns = netns; self.ifName = ifName
        self.args = args; self.capabilityArgs = capabilityArgs
    }

    public static func == (a: Attachment, b: Attachment) -> Bool {
        a.containerID == b.containerID && a.netns == b.netns && a.ifName == b.ifName
            && a.args.map { "\($0)=\($1)" } == b.args.map { "\($0)=\($1)" } && a.capabilityArgs == b.capabilityArgs
    }
}

/// One plugin invocation, for learners who want to see exactly what happened.
public struct Invocation: Codable, Sendable {
    public var plugin: String
    public var environment: [String]
    public var stdin: JSONValue
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs plugins as the CNI spec says: the config on stdin, parameters in the environment.
public struct CNIRuntime: Sendable {
    public static let defaultPath = ["/opt/cni/bin", "/usr/lib/cni"]
    public var path: [String]

    public init(path: [String] = CNIRuntime.defaultPath) { self.path = path }

    /// The executable for a plugin type, or a clear error naming where it was looked for.
    public func find(_ type: String) throws -> String {
        for dir in path where access("\(dir)/\(type)", X_OK) == 0 { return "\(dir)/\(type)" }
        throw CNIError.pluginNotFound(type, searched: path)
    }

    /// Checks every plugin of the list exists before anything is changed.
    public func validate(_ list: NetworkConfigList) throws {
        for t in list.types { _ = try find(t) }
    }

    /// ADD each plugin in order, each receiving the previous one's result.
    /// On failure, the plugins already added are deleted again before throwing.
    /// `afterEach` sees each plugin's result as soon as it is there (work that
    /// needs, say, the bridge can start while the rest of the chain runs).
    public func add(_ list: NetworkConfigList, _ a: Attachment, trace: ((Invocation) -> Void)? = nil,
                    afterEach: ((Int, JSONValue) -> Void)? = nil) throws -> JSONValue {
        var prev: JSONValue?
        for (i, plugin) in list.plugins.enumerated() {
            do {
                let out = try invoke("ADD", plugin, list, a, prevResult: prev, trace: trace)
                guard let result = out, case .object = result else {
                    throw CNIError.badResult(type: plugin["type"]?.stringValue ?? "?", reason: "no result on stdout")
                }
                prev = result
                afterEach?(i, result)
            } catch {
                // Undo what the earlier plugins did (the failed one cleans up after itself by spec,
                // but DEL must tolerate missing state, so include it).
                var partial = list
                partial.plugins = Array(list.plugins[0...i])
                try? del(partial, a, prevResult: prev, trace: trace)
                throw error
            }
        }
        return prev ?? .object([:])
    }

    /// DEL each plugin in reverse order with the stored result; best effort to the
    /// end (every plugin gets its DEL), then the first error is thrown.
    public func del(_ list: NetworkConfigList, _ a: Attachment, prevResult: JSONValue?, trace: ((Invocation) -> Void)? = nil) throws {
        var firstError: Error?
        for plugin in list.plugins.reversed() {
            do { _ = try invoke("DEL", plugin, list, a, prevResult: prevResult, trace: trace) }
            catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
    }

    /// CHECK each plugin in order (CNI 0.4.0 and later, unless the list disables it).
    public func check(_ list: NetworkConfigList, _ a: Attachment, prevResult: JSONValue, trace: ((Invocation) -> Void)? = nil) throws {
        guard !list.disableCheck, !list.cniVersion.hasPrefix("0.1"), !list.cniVersion.hasPrefix("0.2"),
              !list.cniVersion.hasPrefix("0.3") else { return }
        for plugin in list.plugins { _ = try invoke("CHECK", plugin, list, a, prevResult: prevResult, trace: trace) }
    }

    /// The config a plugin gets on stdin: its own object plus name, cniVersion,
    /// prevResult and the runtimeConfig for the capabilities it declares.
    public static func pluginConfig(_ plugin: JSONValue, _ list: NetworkConfigList, _ a: Attachment, prevResult: JSONValue?) -> JSONValue {
        var conf = plugin
        conf["name"] = .string(list.name)
        conf["cniVersion"] = .string(list.cniVersion)
        if let prevResult { conf["prevResult"] = prevResult }
        if let caps = plugin["capabilities"]?.objectValue {
            var runtime: [String: JSONValue] = [:]
            for (cap, enabled) in caps where enabled.boolValue == true {
                if let v = a.capabilityArgs[cap] { runtime[cap] = v }
            }
            if !runtime.isEmpty { conf["runtimeConfig"] = .object(runtime) }
        }
        return conf
    }

    func invoke(_ command: String, _ plugin: JSONValue, _ list: NetworkConfigList, _ a: Attachment,
                prevResult: JSONValue?, trace: ((Invocation) -> Void)?) throws -> JSONValue? {
        let type = plugin["type"]?.stringValue ?? ""
        let exe = try find(type)
        let conf = Self.pluginConfig(plugin, list, a, prevResult: prevResult)
        let cniEnv = [
            "CNI_COMMAND=\(command)",
            "CNI_CONTAINERID=\(a.containerID)",
            "CNI_NETNS=\(a.netns)",
            "CNI_IFNAME=\(a.ifName)",
            "CNI_ARGS=\(a.args.map { "\($0)=\($1)" }.joined(separator: ";"))",
            "CNI_PATH=\(path.joined(separator: ":"))",
        ]
        // Plugins run iptables and friends: they need the host's PATH.
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CNI_") }.map { "\($0.key)=\($0.value)" }
        let out = try ChildProcess.run(exe, environment: inherited + cniEnv, stdin: conf.encoded())
        trace?(Invocation(plugin: type, environment: cniEnv, stdin: conf, exitCode: out.status,
                          stdout: String(decoding: out.stdout, as: UTF8.self),
                          stderr: String(decoding: out.stderr, as: UTF8.self)))
        let parsed = out.stdout.isEmpty ? nil : try? JSONValue.parse(out.stdout)
        guard out.status == 0 else {
            let stderrLine = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            throw CNIError.plugin(
                type: type, command: command,
                code: parsed?["code"].flatMap { if case .int(let c) = $0 { Int(c) } else { nil } } ?? Int(out.status),
                msg: parsed?["msg"]?.stringValue ?? (stderrLine.isEmpty ? "exit status \(out.status)" : stderrLine),
                details: parsed?["details"]?.stringValue ?? "")
        }
        if command == "ADD" && parsed == nil {
            throw CNIError.badResult(type: type, reason: "stdout is not JSON")
        }
        return parsed
    }
}
