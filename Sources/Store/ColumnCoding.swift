import Core
import Foundation

/// How model values become column values and back, for every backend (shared by the
/// SQLite and PostgreSQL stores, hence `package` access).
///
/// Dates are integers counting microseconds since 1970 (UTC): they sort as numbers, compare
/// exactly, and a `Date` rounded to the microsecond survives the trip bit for bit, so a node
/// read back equals the node `createNode` returned.
package enum ColumnCoding {
    /// Microseconds since 1970 for `date`, rounded to the nearest microsecond.
    package static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The date `micros` microseconds after 1970.
    package static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    /// `date` as it will read back from the database.
    package static func normalized(_ date: Date) -> Date {
        self.date(micros: micros(date))
    }

    /// `date` as it will read back from the database.
    package static func normalized(_ date: Date?) -> Date? {
        date.map(normalized)
    }

    /// JSON text of a free-form dictionary.
    package static func json(_ object: [String: JSONValue]) -> String {
        object.isEmpty ? "{}" : JSONValue.object(object).serialized()
    }

    /// The dictionary stored as JSON text; `nil` and `{}` are empty.
    package static func object(_ text: String?) throws -> [String: JSONValue] {
        guard let text, text != "{}" else { return [:] }
        guard case .object(let object) = try JSONText.parse(text) else {
            throw IronicError.internalError("Stored JSON is not an object: \(text.prefix(200))")
        }
        return object
    }

    /// JSON text of a node's interfaces, keyed by kind (`{"power": "ipmitool"}`).
    package static func json(_ interfaces: [InterfaceKind: String]) -> String {
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(interfaces.count)
        for (kind, name) in interfaces { object[kind.rawValue] = .string(name) }
        return json(object)
    }

    /// A node's interfaces read from JSON text; unknown kinds (from a newer release) are dropped.
    package static func interfaces(_ text: String?) throws -> [InterfaceKind: String] {
        var result: [InterfaceKind: String] = [:]
        for (key, value) in try object(text) {
            if let kind = InterfaceKind(rawValue: key), case .string(let name) = value { result[kind] = name }
        }
        return result
    }

    /// JSON text of a string array.
    package static func json(_ strings: [String]) -> String {
        strings.isEmpty ? "[]" : JSONValue.array(strings.map(JSONValue.string)).serialized()
    }

    /// A string array read from JSON text.
    package static func strings(_ text: String?) throws -> [String] {
        guard let text, text != "[]" else { return [] }
        guard case .array(let items) = try JSONText.parse(text) else {
            throw IronicError.internalError("Stored JSON is not an array: \(text.prefix(200))")
        }
        return items.compactMap(\.stringValue)
    }
}

extension String {
    /// A `LIKE` pattern matching strings that contain `self`, for `LIKE ? ESCAPE '\'`: `%`, `_`
    /// and `\` in `self` are escaped, so they match literally.
    package var likeContainsPattern: String {
        var pattern = "%"
        for character in self {
            if character == "%" || character == "_" || character == "\\" { pattern.append("\\") }
            pattern.append(character)
        }
        pattern.append("%")
        return pattern
    }
}

/// A small JSON parser for the text this store writes.
///
/// Faster than `JSONDecoder` for `JSONValue` (whose `Decodable` conformance tries each type in
/// turn), and exact about numbers: `1.0` stays `.double(1.0)` and `1` stays `.int(1)`, so the
/// dictionaries of a node compare equal after a round trip.
package enum JSONText {
    /// Parses one JSON document. Throws `IronicError.internalError` on malformed text.
    package static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { bytes in
            var parser = Parser(bytes: bytes)
            parser.skipSpace()
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.index == bytes.count else { throw parser.failure("trailing characters") }
            return value
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func failure(_ reason: String) -> IronicError {
            .internalError("Stored JSON is malformed at offset \(index): \(reason)")
        }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString) throws {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw failure("unexpected end") }
            let start = literal.utf8Start
            for i in 0..<count where bytes[index + i] != start[i] { throw failure("unexpected literal") }
            index += count
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 512 else { throw failure("nesting too deep") }
            guard index < bytes.count else { throw failure("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var object: [String: JSONValue] = [:]
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(object)
                }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                    let key = try string()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                    index += 1
                    skipSpace()
                    object[key] = try value(depth: depth + 1)
                    skipSpace()
                    guard index < bytes.count else { throw failure("unexpected end") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "}") {
                        index += 1
                        return .object(object)
                    } else {
                        throw failure("expected ',' or '}'")
                    }
                }
            case UInt8(ascii: "["):
                index += 1
                var array: [JSONValue] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(array)
                }
                while true {
                    skipSpace()
                    array.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw failure("unexpected end") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "]") {
                        index += 1
                        return .array(array)
                    } else {
                        throw failure("expected ',' or ']'")
                    }
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "a") {
                    try expect("nan")
                    return .double(.nan)
                }
                try expect("null")
                return .null
            case UInt8(ascii: "i"):
                // `JSONValue.serialized()` writes non-finite doubles the way Swift prints them.
                try expect("inf")
                return .double(.infinity)
            default:
                return try number()
            }
        }

        mutating func number() throws -> JSONValue {
            let start = index
            if bytes[index] == UInt8(ascii: "-") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "i") {
                    try expect("inf")
                    return .double(-.infinity)
                }
            }
            let digitsStart = index
            var isInteger = true
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): break
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"):
                    isInteger = false
                default:
                    return try finishNumber(start: start, digitsStart: digitsStart, isInteger: isInteger)
                }
                index += 1
            }
            return try finishNumber(start: start, digitsStart: digitsStart, isInteger: isInteger)
        }

        func finishNumber(start: Int, digitsStart: Int, isInteger: Bool) throws -> JSONValue {
            guard index > digitsStart else { throw failure("unexpected character") }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            // Integers too large for `Int` become doubles, as with `JSONDecoder`.
            if isInteger, let int = Int(text) { return .int(int) }
            guard let double = Double(text) else { throw failure("bad number \(text)") }
            return .double(double)
        }

        /// A string starting at the opening quote.
        mutating func string() throws -> String {
            index += 1
            let start = index
            // Fast path: no escapes, the bytes are the string.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let result = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return result
                }
                if byte == UInt8(ascii: "\\") { break }
                index += 1
            }
            var utf8: [UInt8] = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: utf8, as: UTF8.self)
                }
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    index += 1
                    continue
                }
                index += 1
                guard index < bytes.count else { break }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): utf8.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "t"): utf8.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        // A high surrogate must be followed by `\uDC00`-`\uDFFF`.
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw failure("lone surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("lone surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw failure("invalid code point") }
                    UTF8.encode(scalar) { utf8.append($0) }
                default:
                    throw failure("invalid escape")
                }
            }
            throw failure("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw failure("short \\u escape") }
            var code: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw failure("bad hex digit")
                }
                code = code << 4 | digit
                index += 1
            }
            return code
        }
    }
}
