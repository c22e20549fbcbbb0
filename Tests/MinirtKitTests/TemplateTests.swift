import Testing
@testable import MinirtKit
import MinirtCNI

@Suite struct TemplateTests {
    let data: JSONValue = .object([
        "Name": .string("/web"),
        "State": .object(["Pid": .int(42), "Running": .bool(true), "Status": .string("running")]),
        "Config": .object([
            "Cmd": .array([.string("sh"), .string("-c"), .string("true")]),
            "Labels": .object(["a": .string("1"), "b": .string("2")]),
        ]),
    ])

    @Test func fieldPaths() throws {
        #expect(try Template("{{.State.Pid}}").render(data) == "42")
        #expect(try Template("{{ .Name }} is {{.State.Status}}").render(data) == "/web is running")
        #expect(try Template("{{.State.Running}}").render(data) == "true")
    }

    @Test func goFormatting() throws {
        #expect(try Template("{{.Config.Cmd}}").render(data) == "[sh -c true]")
        #expect(try Template("{{.Config.Labels}}").render(data) == "map[a:1 b:2]")
    }

    @Test func functions() throws {
        #expect(try Template("{{json .Config.Cmd}}").render(data) == #"["sh","-c","true"]"#)
        #expect(try Template("{{json .State}}").render(data) == #"{"Pid":42,"Running":true,"Status":"running"}"#)
        #expect(try Template(#"{{index .Config.Labels "b"}}"#).render(data) == "2")
        #expect(try Template(#"{{join .Config.Cmd ","}}"#).render(data) == "sh,-c,true")
        #expect(try Template("{{upper .State.Status}}").render(data) == "RUNNING")
        #expect(try Template("{{len .Config.Cmd}}").render(data) == "3")
        #expect(try Template(#"a\tb\n"#).render(data) == "a\tb\n")
    }

    @Test func errorsNameTheProblem() {
        #expect(throws: TemplateError.self) { try Template("{{.State.Pid").render(data) }
        #expect(throws: TemplateError.self) { try Template("{{.Nope}}").render(data) }
        #expect(throws: TemplateError.self) { try Template("{{frobnicate .Name}}") }
        #expect(throws: TemplateError.self) { try Template("{{.Name.Deeper}}").render(data) }
    }
}
