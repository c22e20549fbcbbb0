import MinirtCNI

/// docker prints `inspect` as Go's json.MarshalIndent does: four spaces, `"Key": value`,
/// a struct's fields in their declared order and a map's keys sorted. Swift's
/// encoder keeps no field order, so the views are encoded, then written here
/// with docker's field order per kind of object (fields it does not know come
/// after, sorted; maps are not listed here and come out sorted).
public final class FieldOrder: Sendable {
    let fields: [String]
    /// The order of a field that is itself a struct.
    let nested: [String: FieldOrder]
    /// The order of each element of an array field, or each value of a map field, of structs.
    let each: [String: FieldOrder]

    init(_ fields: [String], nested: [String: FieldOrder] = [:], each: [String: FieldOrder] = [:]) {
        self.fields = fields; self.nested = nested; self.each = each
    }

    static let health = FieldOrder(["Status", "FailingStreak", "Log"], each: ["Log": FieldOrder(["Start", "End", "ExitCode", "Output"])])
    static let state = FieldOrder(["Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
                                   "StartedAt", "FinishedAt", "Health"], nested: ["Health": health])
    static let restartPolicy = FieldOrder(["Name", "MaximumRetryCount"])
    static let hostConfig = FieldOrder([
        "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove", "VolumeDriver",
        "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch",
        "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts",
        "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime",
        "Isolation", "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
        "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "MemoryReservation",
        "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps",
        "IOMaximumBandwidth", "MaskedPaths", "ReadonlyPaths", "Init",
    ], nested: ["LogConfig": FieldOrder(["Type", "Config"]), "RestartPolicy": restartPolicy],
       each: ["PortBindings": FieldOrder(["HostIp", "HostPort"]), "Devices": FieldOrder(["PathOnHost", "PathInContainer", "CgroupPermissions"]),
              "Ulimits": FieldOrder(["Name", "Hard", "Soft"])])
    static let mount = FieldOrder(["Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation"])
    static let config = FieldOrder([
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty", "OpenStdin",
        "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint",
        "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
    ], nested: ["Healthcheck": FieldOrder(["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"])])
    static let endpoint = FieldOrder(["IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "NetworkID", "EndpointID",
                                      "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                                      "DNSNames", "InterfaceName"],
                                     nested: ["IPAMConfig": FieldOrder(["IPv4Address", "IPv6Address", "LinkLocalIPs"])])
    static let networkSettings = FieldOrder([
        "Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
        "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
        "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress", "Networks",
    ], each: ["Networks": endpoint])
    public static let container = FieldOrder([
        "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Name",
        "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig",
        "GraphDriver", "SizeRw", "SizeRootFs", "Mounts", "Config", "NetworkSettings",
    ], nested: ["State": state, "HostConfig": hostConfig, "GraphDriver": FieldOrder(["Data", "Name"]), "Config": config,
                "NetworkSettings": networkSettings],
       each: ["Mounts": mount])
    public static let network = FieldOrder([
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress",
        "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ], nested: ["IPAM": FieldOrder(["Driver", "Options", "Config"], each: ["Config": FieldOrder(["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"])])],
       each: ["Containers": FieldOrder(["Name", "EndpointID", "MacAddress", "IPv4Address", "IPv6Address"])])
    public static let image = FieldOrder([
        "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config", "Architecture",
        "Variant", "Os", "Size", "GraphDriver", "RootFS", "Metadata",
    ], nested: ["Config": config, "GraphDriver": FieldOrder(["Data", "Name"]), "RootFS": FieldOrder(["Type", "Layers"])])
    public static let volume = FieldOrder(["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"])

    /// The kind of a top-level object, by the fields only it has.
    static func detect(_ o: [String: JSONValue]) -> FieldOrder? {
        if o["HostConfig"] != nil && o["State"] != nil { return container }
        if o["IPAM"] != nil { return network }
        if o["RootFS"] != nil || o["RepoTags"] != nil { return image }
        if o["Mountpoint"] != nil { return volume }
        return nil
    }
}

public enum DockerJSON {
    /// An array of views as `docker inspect` prints it.
    public static func pretty(_ value: JSONValue) -> String {
        var w = Writer(pretty: true)
        if case .array(let a) = value {
            w.items(a, indent: 0) { $0.objectValue.flatMap(FieldOrder.detect) }
        } else {
            w.write(value, order: value.objectValue.flatMap(FieldOrder.detect), indent: 0)
        }
        return w.out
    }

    /// `{{json .Path}}`: compact, in docker's order for what the path reaches in the view.
    public static func compact(_ value: JSONValue, path: [String], root: JSONValue) -> String {
        var w = Writer(pretty: false)
        switch context(path, root: root) {
        case .fields(let o): w.write(value, order: o, indent: 0)
        case .elements(let e): w.each(value, element: e, indent: 0)
        }
        return w.out
    }

    enum Context { case fields(FieldOrder?), elements(FieldOrder) }

    /// The order that applies at a path of a view: a struct's, or each element's of a map or array of structs.
    static func context(_ path: [String], root: JSONValue) -> Context {
        var c = Context.fields(root.objectValue.flatMap(FieldOrder.detect))
        var v = root
        for key in path {
            let next = v.objectValue?[key] ?? .null
            switch c {
            case .fields(let o):
                if let n = o?.nested[key] { c = .fields(n) } else if let e = o?.each[key] { c = .elements(e) } else { c = .fields(nil) }
            case .elements(let e):
                if case .array = next { c = .elements(e) } else { c = .fields(e) }
            }
            v = next
        }
        return c
    }

    struct Writer {
        let pretty: Bool
        var out = ""

        func newline(_ indent: Int) -> String { pretty ? "\n" + String(repeating: "    ", count: indent) : "" }

        mutating func items(_ a: [JSONValue], indent: Int, order: (JSONValue) -> FieldOrder?) {
            guard !a.isEmpty else { out += "[]"; return }
            out += "["
            for (i, e) in a.enumerated() {
                out += newline(indent + 1)
                write(e, order: order(e), indent: indent + 1)
                if i < a.count - 1 { out += "," }
            }
            out += newline(indent) + "]"
        }

        mutating func entries(_ o: [String: JSONValue], keys: [String], indent: Int, value: (inout Writer, String, JSONValue) -> Void) {
            guard !keys.isEmpty else { out += "{}"; return }
            out += "{"
            for (i, k) in keys.enumerated() {
                out += newline(indent + 1)
                DockerJSON.quote(k, into: &out)
                out += pretty ? ": " : ":"
                value(&self, k, o[k]!)
                if i < keys.count - 1 { out += "," }
            }
            out += newline(indent) + "}"
        }

        mutating func write(_ v: JSONValue, order: FieldOrder?, indent: Int) {
            switch v {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d): out += d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case .string(let s): DockerJSON.quote(s, into: &out)
            case .array(let a): items(a, indent: indent) { _ in order }
            case .object(let o):
                // A struct: its fields in order, then what docker does not have (sorted). A map (no order): sorted.
                let known = order?.fields.filter { o[$0] != nil } ?? []
                let keys = known + o.keys.filter { !known.contains($0) }.sorted()
                entries(o, keys: keys, indent: indent) { w, k, child in
                    if let n = order?.nested[k] {
                        w.write(child, order: n, indent: indent + 1)
                    } else if let e = order?.each[k] {
                        w.each(child, element: e, indent: indent + 1)
                    } else {
                        w.write(child, order: nil, indent: indent + 1)
                    }
                }
            }
        }

        /// An array of structs, or a map (keys sorted) of structs or of arrays of structs (PortBindings).
        mutating func each(_ v: JSONValue, element: FieldOrder, indent: Int) {
            switch v {
            case .array(let a): items(a, indent: indent) { _ in element }
            case .object(let m):
                entries(m, keys: m.keys.sorted(), indent: indent) { w, _, child in
                    if case .array = child { w.each(child, element: element, indent: indent + 1) }
                    else { w.write(child, order: element, indent: indent + 1) }
                }
            default: write(v, order: nil, indent: indent)
            }
        }
    }

    /// JSON string escapes as Go's json.MarshalIndent writes them (docker's inspect): <, > and & too.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case _ where u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
