import Core
import GRDB
import Store

/// A `SELECT` assembled from filters and a `PageQuery`: `WHERE` conditions joined by `AND`,
/// keyset paging after a marker, `ORDER BY sort_key, id` and `LIMIT`.
///
/// Column names only ever come from this module (filters) or from a whitelist of sort keys,
/// never from callers; values are always bound.
struct SelectBuilder {
    let table: String
    let columns: String
    private(set) var conditions: [String] = []
    private(set) var arguments: [DatabaseValue] = []
    private var order = "id ASC"
    private var limit: Int?

    init(table: String, columns: String) {
        self.table = table
        self.columns = columns
    }

    /// Adds `column = value`.
    mutating func equal(_ column: String, _ value: (some DatabaseValueConvertible)?) {
        guard let value else { return }
        conditions.append("\(column) = ?")
        arguments.append(value.databaseValue)
    }

    /// Adds a raw condition with its bound values.
    mutating func condition(_ sql: String, _ values: DatabaseValue...) {
        conditions.append(sql)
        arguments.append(contentsOf: values)
    }

    /// Orders by `page.sortKey` (then `id`, in the same direction) and keeps the rows after
    /// `page.marker`, the UUID of a row of this table.
    ///
    /// SQLite sorts NULL first ascending and last descending; the marker condition follows the
    /// same rule, so paging through a column with NULLs neither skips nor repeats rows.
    /// Throws `InvalidParameterValue` for a key outside `sortKeys` and `MarkerNotFound` for an
    /// unknown marker.
    mutating func page(_ page: PageQuery, sortKeys: Set<String>, db: Database) throws {
        let key = page.sortKey
        guard sortKeys.contains(key) else {
            throw IronicError.invalidParameterValue("The sort_key value \"\(key)\" is an invalid field for sorting")
        }
        let ascending = page.sortDirection == .ascending
        let direction = ascending ? "ASC" : "DESC"
        order = key == "id" ? "id \(direction)" : "\(key) \(direction), id \(direction)"
        limit = page.limit

        guard let marker = page.marker else { return }
        let statement = try db.cachedStatement(sql: "SELECT \(key), id FROM \(table) WHERE uuid = ?")
        guard let row = try Row.fetchOne(statement, arguments: [marker]) else {
            throw IronicError(status: 400, code: "MarkerNotFound", message: "Marker \(marker) could not be found.")
        }
        let value: DatabaseValue = row[0]
        let id: Int64 = row[1]
        let after = ascending ? ">" : "<"
        if key == "id" {
            condition("id \(after) ?", id.databaseValue)
        } else if value.isNull {
            // NULLs come first ascending (everything non-NULL follows) and last descending.
            if ascending {
                condition("(\(key) IS NOT NULL OR id > ?)", id.databaseValue)
            } else {
                condition("(\(key) IS NULL AND id < ?)", id.databaseValue)
            }
        } else {
            let nulls = ascending ? "" : " OR \(key) IS NULL"
            condition("(\(key) \(after) ? OR (\(key) = ? AND id \(after) ?)\(nulls))", value, value, id.databaseValue)
        }
    }

    /// The statement text.
    var sql: String {
        var sql = "SELECT \(columns) FROM \(table)"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY \(order)"
        if limit != nil { sql += " LIMIT ?" }
        return sql
    }

    /// The values bound to `sql`.
    var statementArguments: StatementArguments {
        var values = arguments
        if let limit { values.append(max(limit, 0).databaseValue) }
        return StatementArguments(values)
    }

    /// Fetches and decodes every row, reusing the cached statement of this SQL text.
    func fetch<T>(_ db: Database, _ decode: (Row) throws -> T) throws -> [T] {
        let statement = try db.cachedStatement(sql: sql)
        let rows = try Row.fetchCursor(statement, arguments: statementArguments)
        var result: [T] = []
        while let row = try rows.next() { result.append(try decode(row)) }
        return result
    }
}
