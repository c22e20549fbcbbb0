import FoundationEssentials
import MinirtCNI

public struct TemplateError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// The part of Go's text/template that `docker inspect --format` users write:
/// `{{.State.Pid}}`, `{{json .Config}}`, `{{index .Labels "k"}}`, `{{join .Args ","}}`,
/// `{{upper .Name}}`, `{{lower ...}}`, text around actions, `\n` and `\t` escapes.
public struct Template: Sendable {
    enum Part: Sendable { case text(String), action(String, [Arg]) }
    enum Arg: Sendable { case path([String]), literal(String) }

    let parts: [Part]

    public init(_ source: String) throws {
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(Self.unescape(String(rest[..<open.lowerBound])))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw TemplateError(description: "template: unclosed action \"{{\" in \(source)")
            }
            var body = String(rest[open.upperBound..<close.lowerBound])
            if body.hasPrefix("-") { body.removeFirst() }
            if body.hasSuffix("-") { body.removeLast() }
            parts.append(try Self.parseAction(body, source: source))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(Self.unescape(String(rest)))) }
        self.parts = parts
    }

    static func unescape(_ s: String) -> String {
        s.replacing("\\n", with: "\n").replacing("\\t", with: "\t")
    }

    static func parseAction(_ body: String, source: String) throws -> Part {
        var words: [String] = []
        var current = ""
        var quoted = false
        for ch in body {
            if ch == "\"" { quoted.toggle(); current.append(ch); continue }
            if (ch == " " || ch == "\t") && !quoted { if !current.isEmpty { words.append(current); current = "" }; continue }
            current.append(ch)
        }
        if !current.isEmpty { words.append(current) }
        guard let first = words.first else { throw TemplateError(description: "template: empty action in \(source)") }
        func arg(_ w: String) throws -> Arg {
            if w == "." { return .path([]) }
            if w.hasPrefix(".") { return .path(w.dropFirst().split(separator: ".").map(String.init)) }
            if w.hasPrefix("\"") && w.hasSuffix("\"") && w.count >= 2 { return .literal(String(w.dropFirst().dropLast())) }
            throw TemplateError(description: "template: cannot read \"\(w)\" in \(source): write a field path like .State.Pid")
        }
        if first.hasPrefix(".") {
            guard words.count == 1 else { throw TemplateError(description: "template: unexpected \"\(words[1])\" in \(source)") }
            return .action("", [try arg(first)])
        }
        let known = ["json": 1, "index": 2, "join": 2, "upper": 1, "lower": 1, "len": 1]
        guard let arity = known[first] else {
            throw TemplateError(description: "template: function \"\(first)\" not defined: use json, index, join, upper, lower or len")
        }
        guard words.count - 1 == arity else {
            throw TemplateError(description: "template: \(first) takes \(arity) argument(s) in \(source)")
        }
        return .action(first, try words.dropFirst().map(arg))
    }

    /// Renders against any Encodable value, seen as its JSON.
    public func render<T: Encodable>(_ value: T) throws -> String {
        try render(try JSONValue.from(value))
    }

    public func render(_ data: JSONValue) throws -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .action("json", let args):
                // docker's json: compact, with the field order of what the path reaches.
                switch args.first {
                case .path(let p)?: out += DockerJSON.compact(try Self.lookup(p, in: data), path: p, root: data)
                case .literal(let l)?: out += DockerJSON.compact(.string(l), path: [], root: .null)
                case nil: break
                }
            case .action(let fn, let args):
                let values = try args.map { a -> JSONValue in
                    switch a {
                    case .literal(let s): return .string(s)
                    case .path(let p): return try Self.lookup(p, in: data)
                    }
                }
                out += try Self.apply(fn, values)
            }
        }
        return out
    }

    static func lookup(_ path: [String], in value: JSONValue) throws -> JSONValue {
        var v = value
        for key in path {
            guard case .object(let o) = v else {
                throw TemplateError(description: "template: can't evaluate field \(key) in a \(kind(v))")
            }
            guard let next = o[key] else {
                throw TemplateError(description: "template: can't evaluate field \(key): no such field")
            }
            v = next
        }
        return v
    }

    static func apply(_ fn: String, _ args: [JSONValue]) throws -> String {
        switch fn {
        case "": return goString(args[0])
        case "json":
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try e.encode(args[0]), as: UTF8.self)
        case "index":
            switch (args[0], args[1]) {
            case (.object(let o), .string(let k)): return o[k].map(goString) ?? "<no value>"
            case (.array(let a), .string(let k)):
                guard let i = Int(k), a.indices.contains(i) else { throw TemplateError(description: "template: index \(k) out of range") }
                return goString(a[i])
            default: throw TemplateError(description: "template: can't index a \(kind(args[0]))")
            }
        case "join":
            guard case .array(let a) = args[0], case .string(let sep) = args[1] else {
                throw TemplateError(description: "template: join needs a list and a string")
            }
            return a.map(goString).joined(separator: sep)
        case "upper": return goString(args[0]).uppercased()
        case "lower": return goString(args[0]).lowercased()
        case "len":
            switch args[0] {
            case .array(let a): return String(a.count)
            case .object(let o): return String(o.count)
            case .string(let s): return String(s.utf8.count)
            default: throw TemplateError(description: "template: len of a \(kind(args[0]))")
            }
        default: throw TemplateError(description: "template: function \"\(fn)\" not defined")
        }
    }

    /// How Go's fmt prints a value with %v.
    static func goString(_ v: JSONValue) -> String {
        switch v {
        case .null: return "<nil>"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(goString).joined(separator: " ") + "]"
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(goString(o[$0]!))" }.joined(separator: " ") + "]"
        }
    }

    static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "nil value"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "list"
        case .object: return "object"
        }
    }
}
