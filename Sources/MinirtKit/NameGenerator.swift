/// Names for containers started without `--name`, in Docker's adjective_surname
/// style; the surnames are people who built the networks minirt teaches.
enum NameGenerator {
    static let adjectives = [
        "agile", "bold", "brave", "bright", "calm", "clever", "cool", "eager", "fast", "fond",
        "gentle", "happy", "keen", "kind", "lucid", "merry", "nimble", "quiet", "quick", "sharp",
        "steady", "swift", "tidy", "vivid", "wise", "witty", "zen", "plucky", "jolly", "sleek",
    ]
    static let surnames = [
        "baran", "cerf", "kahn", "postel", "metcalfe", "perlman", "clark", "kleinrock", "pouzin",
        "davies", "roberts", "crocker", "jacobson", "floyd", "mockapetris", "stevens", "tanenbaum",
        "comer", "bellovin", "cheswick", "thompson", "ritchie", "torvalds", "kuznetsov", "mcKusick",
        "joy", "hopper", "lovelace", "shannon", "turing",
    ]

    static func make() -> String {
        var g = SystemRandomNumberGenerator()
        return "\(adjectives.randomElement(using: &g)!)_\(surnames.randomElement(using: &g)!.lowercased())"
    }
}
