/// Argument rewriting the CLI needs before swift-argument-parser sees them.
public enum CommandLineRewrite {
    /// Moves global flags written before the verb to just after it, where the
    /// verb's option group parses them: `minirt --root X run ...`.
    public static func hoist(_ args: [String], globals names: [String], flags: [String] = [], nestedVerbs nested: [String]) -> [String] {
        var globals: [String] = []
        var rest = args[...]
        while let first = rest.first, first.hasPrefix("--") {
            let name = String(first.split(separator: "=", maxSplits: 1)[0])
            guard names.contains(name) || flags.contains(name) else { break }
            globals.append(first)
            rest = rest.dropFirst()
            if !flags.contains(name), !first.contains("="), let value = rest.first {
                globals.append(value)
                rest = rest.dropFirst()
            }
        }
        guard !globals.isEmpty, let verb = rest.first else { return args }
        var head = [verb]
        rest = rest.dropFirst()
        if nested.contains(verb), let sub = rest.first, !sub.hasPrefix("-") {
            head.append(sub)
            rest = rest.dropFirst()
        }
        return head + globals + rest
    }
}
