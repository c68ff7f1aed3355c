import Core
import Foundation
import Store
import Testing

@Suite("Column coding")
struct ColumnCodingTests {
    static let documents: [JSONValue] = [
        [:],
        ["a": 1, "b": .double(1.0), "c": .double(0.1), "d": .double(-2.5e-7), "e": .double(1e300), "f": -0],
        ["nested": ["list": [nil, true, false, "x", [], [:], [[1]]]], "big": .int(Int.max), "small": .int(Int.min)],
        ["quote\"key": "back\\slash", "ctl": "\u{00}\u{1F}\n\r\t\u{7F}", "emoji": "🚀 é \u{2028}", "": ""],
    ]

    @Test(arguments: documents) func objectsRoundTrip(_ document: JSONValue) throws {
        let object = try #require(document.objectValue)
        #expect(try ColumnCoding.object(ColumnCoding.json(object)) == object)
    }

    @Test func parsesStandardJSON() throws {
        let text = #" { "s" : "a\/b\u00e9\ud83d\ude80\b\f" , "n": [ 1 , -2.0e1 , 3E+2, 12345678901234567168 ] } "#
        let value = try JSONText.parse(text)
        #expect(value == ["s": "a/bé🚀\u{08}\u{0C}", "n": [1, .double(-20), .double(300), .double(12345678901234567168)]])
    }

    @Test(arguments: ["", "{", "{\"a\"}", "[1,]", "\"abc", "tru", "{} x", "\"\\ud83d\"", "-", "{\"a\":1,}"])
    func rejectsMalformedJSON(_ text: String) {
        #expect(throws: IronicError.self) { try JSONText.parse(text) }
    }

    @Test func datesRoundToTheMicrosecond() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123_456_789)
        let normalized = ColumnCoding.normalized(date)
        #expect(ColumnCoding.micros(date) == 1_700_000_000_123_457)
        #expect(ColumnCoding.normalized(normalized) == normalized)
        #expect(ColumnCoding.date(micros: ColumnCoding.micros(normalized)) == normalized)
        #expect(abs(normalized.timeIntervalSince(date)) < 0.000_001)
    }

    @Test func interfacesAndTraits() throws {
        let interfaces: [InterfaceKind: String] = [.power: "ipmitool", .deploy: "direct"]
        #expect(ColumnCoding.json(interfaces) == #"{"deploy": "direct", "power": "ipmitool"}"#)
        #expect(try ColumnCoding.interfaces(ColumnCoding.json(interfaces)) == interfaces)
        #expect(try ColumnCoding.interfaces(#"{"power": "x", "future": "y"}"#) == [.power: "x"])
        #expect(try ColumnCoding.strings(ColumnCoding.json(["A", "B\""])) == ["A", "B\""])
        #expect(try ColumnCoding.strings("[]") == [])
    }

    @Test func likePatternsEscapeWildcards() {
        #expect("50%_off\\".likeContainsPattern == #"%50\%\_off\\%"#)
    }
}
