import Core
import Foundation
import PostgresNIO
import Store

/// A column value to bind, typed so that a NULL still carries its PostgreSQL type.
enum SQLValue: Sendable {
    case text(String?)
    case bool(Bool?)
    case int(Int64?)
    /// A date, written as `TIMESTAMPTZ` rounded to the microsecond (see `Timestamp`).
    case timestamp(Date?)

    /// A JSON text column holding a free-form dictionary.
    static func json(_ object: [String: JSONValue]) -> SQLValue { .text(ColumnCoding.json(object)) }
}

/// SQL text with numbered parameters (`$1`, `$2`, ...) and their values, built in order.
///
/// Table and column names only ever come from this module or a whitelist of sort keys, never
/// from callers; values are always bound.
struct SQLStatement: Sendable {
    private(set) var sql: String
    private(set) var bindings = PostgresBindings()

    init(_ sql: String) {
        self.sql = sql
    }

    /// Appends SQL text.
    mutating func append(_ text: String) {
        sql += text
    }

    /// Appends the next parameter's placeholder and binds `value` to it.
    mutating func bind(_ value: SQLValue) {
        sql += placeholder(for: value)
    }

    /// Binds `value` and returns its placeholder, without appending it.
    mutating func placeholder(for value: SQLValue) -> String {
        switch value {
        case .text(let text): bindings.append(text)
        case .bool(let bool): bindings.append(bool)
        case .int(let int): bindings.append(int)
        case .timestamp(let date): bindings.append(date.map(Timestamp.init(date:)))
        }
        return "$\(bindings.count)"
    }

    /// Appends `placeholders` for `values`, separated by commas.
    mutating func bindList(_ values: [SQLValue]) {
        sql += values.map { placeholder(for: $0) }.joined(separator: ", ")
    }

    /// The query postgres-nio sends.
    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}

/// A `TIMESTAMPTZ` written and read as exact microseconds.
///
/// postgres-nio's own `Date` coding truncates the binary fraction, so a date already rounded to
/// the microsecond may come back one microsecond early. This type rounds like `ColumnCoding`
/// (which the SQLite store uses), so both backends return bit-identical dates.
struct Timestamp: PostgresNonThrowingEncodable, PostgresDecodable, Sendable {
    /// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01 (UTC).
    static let epochOffset: Int64 = 946_684_800_000_000

    /// Microseconds since 1970 (UTC).
    var micros: Int64

    init(date: Date) {
        micros = ColumnCoding.micros(date)
    }

    var date: Date { ColumnCoding.date(micros: micros) }

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        byteBuffer.writeInteger(micros - Self.epochOffset)
    }

    init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        guard type == .timestamptz || type == .timestamp, format == .binary else {
            throw PostgresDecodingError.Code.typeMismatch
        }
        guard buffer.readableBytes == 8, let value = buffer.readInteger(as: Int64.self) else {
            throw PostgresDecodingError.Code.failure
        }
        micros = value + Self.epochOffset
    }
}

/// The cells of one row, read by position like a GRDB `Row`: `let name: String? = try cells[1]`.
/// Decoding failures become 500 `IronicError`s naming the column.
struct Cells {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        self.row = PostgresRandomAccessRow(row)
    }

    subscript<T: PostgresDecodable>(index: Int) -> T {
        get throws {
            do {
                return try row[index].decode(T.self)
            } catch let error as PostgresDecodingError {
                throw IronicError.internalError("Database error: \(PostgreSQLStore.describe(error))")
            }
        }
    }

    /// The date at `index`.
    func date(_ index: Int) throws -> Date {
        (try self[index] as Timestamp).date
    }

    /// The optional date at `index`.
    func optionalDate(_ index: Int) throws -> Date? {
        (try self[index] as Timestamp?)?.date
    }

    /// The JSON dictionary at `index`.
    func object(_ index: Int) throws -> [String: JSONValue] {
        try ColumnCoding.object(self[index] as String?)
    }
}
