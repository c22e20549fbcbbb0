import Testing
import MinirtState

/// The string helpers that replace Foundation's NSString side: the same
/// answers NSString and String(format:) gave for what minirt asks.
@Suite struct TextTests {
    @Test func trimmingDropsWhitespaceAndNewlinesAtBothEnds() {
        #expect("  eth0 ".trimmed() == "eth0")
        #expect("\tLABEL a=b \n".trimmed() == "LABEL a=b")
        #expect(" a b ".trimmed() == "a b")
        #expect("   ".trimmed() == "" && "".trimmed() == "")
        #expect("x".dropFirst(0).trimmed() == "x")
    }

    @Test func pathsSplitAsNSStringSplitsThem() {
        let cases: [(String, String, String)] = [
            ("/a/b", "/a", "b"), ("/a/b/", "/a", "b"), ("/a", "/", "a"), ("/", "/", "/"),
            ("b", "", "b"), ("a//b", "a", "b"), ("", "", ""), ("/etc/hosts", "/etc", "hosts"),
        ]
        for (path, parent, last) in cases {
            #expect(PathText.parent(path) == parent, "parent of \(path)")
            #expect(PathText.lastComponent(path) == last, "last of \(path)")
        }
    }

    @Test func numbersPrintAsPrintfPrintsThem() {
        #expect(NumberText.fixed(12.3456, places: 2) == "12.35")
        #expect(NumberText.fixed(0, places: 2) == "0.00")
        #expect(NumberText.fixed(1e21, places: 0) == "1000000000000000000000")
        #expect(NumberText.significant4(1.5) == "1.5" && NumberText.significant4(648) == "648" && NumberText.significant4(12345) == "1.234e+04")
    }

    @Test func digitRunsCompareByValue() {
        #expect("eth2".numericallyPrecedes("eth10"))
        #expect(!"eth10".numericallyPrecedes("eth2"))
        #expect("10.0.0.9".numericallyPrecedes("10.0.0.10"))
        #expect("a".numericallyPrecedes("b") && "eth".numericallyPrecedes("eth0"))
        #expect(!"eth0".numericallyPrecedes("eth0"))
        let sorted = ["10.66.0.10", "10.66.0.2", "10.66.0.3"].sorted { $0.numericallyPrecedes($1) }
        #expect(sorted == ["10.66.0.2", "10.66.0.3", "10.66.0.10"])
    }
}
