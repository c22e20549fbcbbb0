import Testing
import FoundationEssentials
@testable import MinirtKit
import MinirtCNI

/// `inspect` as docker prints it: four spaces, `"Key": value`, Go's field order
/// for the structs it knows, maps sorted, HTML characters escaped.
@Suite struct DockerJSONTests {
    @Test func containerFieldsComeInDockersOrder() throws {
        let doc = JSONValue.array([.object([
            "Name": .string("/web"), "Id": .string("abc"), "State": .object(["Pid": .int(5), "Status": .string("running"), "Running": .bool(true)]),
            "HostConfig": .object(["NetworkMode": .string("bridge"), "Binds": .array([]), "PortBindings": .object([
                "80/tcp": .array([.object(["HostPort": .string("8080"), "HostIp": .string("0.0.0.0")])])])]),
            "Config": .object(["Labels": .object(["z": .string("1"), "a": .string("2")]), "Hostname": .string("h"), "Env": .array([.string("A=<&>")])]),
            "NetworkSettings": .object(["Networks": .object(["lab": .object(["IPAddress": .string("10.0.0.2"), "NetworkID": .string("lab"), "Aliases": .null])]),
                                        "Bridge": .string("")]),
            "Created": .string("t"), "MinirtOwn": .int(1),
        ])])
        let text = DockerJSON.pretty(doc)
        func before(_ a: String, _ b: String) -> Bool {
            guard let x = text.range(of: a), let y = text.range(of: b) else { return false }
            return x.lowerBound < y.lowerBound
        }
        #expect(text.hasPrefix("[\n    {\n        \"Id\": \"abc\",\n        \"Created\": \"t\",\n"), "\(text)")
        #expect(before("\"State\"", "\"Name\"") && before("\"Name\"", "\"HostConfig\"") && before("\"HostConfig\"", "\"Config\"")
                && before("\"Config\"", "\"NetworkSettings\"") && before("\"NetworkSettings\"", "\"MinirtOwn\""))
        #expect(before("\"Status\"", "\"Running\"") && before("\"Running\"", "\"Pid\""))
        #expect(before("\"Binds\"", "\"NetworkMode\"") && before("\"NetworkMode\"", "\"PortBindings\""))
        #expect(before("\"HostIp\"", "\"HostPort\""), "each port binding is a struct")
        #expect(before("\"Hostname\"", "\"Env\"") && before("\"a\": \"2\"", "\"z\": \"1\""), "a map's keys sorted")
        #expect(before("\"Aliases\"", "\"NetworkID\"") && before("\"NetworkID\"", "\"IPAddress\""), "each network's endpoint is a struct")
        #expect(text.contains("\"Binds\": [],") && text.contains("\"Aliases\": null"))
        #expect(text.contains("A=\\u003c\\u0026\\u003e"))
        #expect(DockerJSON.pretty(.array([])) == "[]")
    }

    @Test func networkAndVolumeAreRecognised() {
        let net = DockerJSON.pretty(.array([.object(["Containers": .object([:]), "Name": .string("n"), "IPAM": .object(["Config": .array([]), "Driver": .string("host-local")]), "Driver": .string("bridge")])]))
        #expect(net.contains("\"Name\": \"n\",\n        \"Driver\"") && net.contains("\"Driver\": \"host-local\",\n            \"Config\": []"), "\(net)")
        let vol = DockerJSON.pretty(.array([.object(["Name": .string("v"), "Driver": .string("local"), "Mountpoint": .string("/m")])]))
        #expect(vol.contains("\"Driver\": \"local\",\n        \"Mountpoint\": \"/m\",\n        \"Name\": \"v\""), "\(vol)")
    }

    @Test func templatesJsonFollowsTheOrderOfWhatThePathReaches() throws {
        let view = JSONValue.object(["HostConfig": .object(["LogConfig": .object(["Config": .object([:]), "Type": .string("local")])]),
                                     "State": .object(["Pid": .int(1), "Status": .string("running")]),
                                     "NetworkSettings": .object(["Networks": .object(["b": .object(["IPAddress": .string("x"), "Aliases": .null])])])])
        #expect(try Template("{{json .State}}").render(view) == #"{"Status":"running","Pid":1}"#)
        #expect(try Template("{{json .HostConfig.LogConfig}}").render(view) == #"{"Type":"local","Config":{}}"#)
        #expect(try Template("{{json .NetworkSettings.Networks}}").render(view) == #"{"b":{"Aliases":null,"IPAddress":"x"}}"#)
        #expect(try Template("{{json .NetworkSettings.Networks.b}}").render(view) == #"{"Aliases":null,"IPAddress":"x"}"#)
    }
}
