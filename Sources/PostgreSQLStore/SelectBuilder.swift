import Core
import Store

/// A `SELECT` assembled from filters and a `PageQuery`: `WHERE` conditions joined by `AND`,
/// keyset paging after a marker, `ORDER BY sort_key, id` and `LIMIT` — the same semantics as
/// the SQLite store's builder.
struct SelectBuilder {
    let table: String
    let columns: String
    private var statement: SQLStatement
    private var conditions: [String] = []
    private var order = "id ASC"
    private var limit: Int?

    init(table: String, columns: String) {
        self.table = table
        self.columns = columns
        statement = SQLStatement("")
    }

    /// Adds `column = value`; nothing for `nil`.
    mutating func equal(_ column: String, _ value: String?) {
        guard let value else { return }
        conditions.append("\(column) = \(statement.placeholder(for: .text(value)))")
    }

    /// Adds `column = value`; nothing for `nil`.
    mutating func equal(_ column: String, _ value: Bool?) {
        guard let value else { return }
        conditions.append("\(column) = \(statement.placeholder(for: .bool(value)))")
    }

    /// Adds a raw condition; `$?` in it stands for the placeholders of `values`, in order.
    mutating func condition(_ sql: String, _ values: SQLValue...) {
        var text = sql
        for value in values {
            let placeholder = statement.placeholder(for: value)
            if let range = text.range(of: "$?") { text.replaceSubrange(range, with: placeholder) }
        }
        conditions.append(text)
    }

    /// Orders by `page.sortKey` (then `id`, in the same direction) and keeps the rows after
    /// `page.marker`, the UUID of a row of this table.
    ///
    /// NULLs sort first ascending and last descending, as in SQLite (PostgreSQL's default is
    /// the opposite); the marker condition follows the same rule, so paging through a column
    /// with NULLs neither skips nor repeats rows. The marker's sort value is compared in SQL
    /// (a subquery by its `id`), whatever the column's type. Throws `InvalidParameterValue` for
    /// a key outside `sortKeys` and `MarkerNotFound` for an unknown marker.
    mutating func page(_ page: PageQuery, sortKeys: Set<String>, store: PostgreSQLStore) async throws {
        let key = page.sortKey
        guard sortKeys.contains(key) else {
            throw IronicError.invalidParameterValue("The sort_key value \"\(key)\" is an invalid field for sorting")
        }
        let ascending = page.sortDirection == .ascending
        let direction = ascending ? "ASC" : "DESC"
        let nulls = ascending ? "NULLS FIRST" : "NULLS LAST"
        order = key == "id" ? "id \(direction)" : "\(key) \(direction) \(nulls), id \(direction)"
        limit = page.limit

        guard let marker = page.marker else { return }
        var lookup = SQLStatement("SELECT id, \(key == "id" ? "FALSE" : "\(key) IS NULL") FROM \(table) WHERE uuid = ")
        lookup.bind(.text(marker))
        guard let row = try await store.rows(lookup).first else {
            throw IronicError(status: 400, code: "MarkerNotFound", message: "Marker \(marker) could not be found.")
        }
        let cells = Cells(row)
        let id: Int64 = try cells[0]
        let isNull: Bool = try cells[1]
        let after = ascending ? ">" : "<"
        if key == "id" {
            condition("id \(after) $?", .int(id))
        } else if isNull {
            // NULLs come first ascending (everything non-NULL follows) and last descending.
            if ascending {
                condition("(\(key) IS NOT NULL OR id > $?)", .int(id))
            } else {
                condition("(\(key) IS NULL AND id < $?)", .int(id))
            }
        } else {
            let value = "(SELECT \(key) FROM \(table) WHERE id = $?)"
            let orNull = ascending ? "" : " OR \(key) IS NULL"
            condition(
                "(\(key) \(after) \(value) OR (\(key) = \(value) AND id \(after) $?)\(orNull))", .int(id), .int(id),
                .int(id))
        }
    }

    /// The statement, with its bound values.
    var sql: SQLStatement {
        var result = statement
        result.append("SELECT \(columns) FROM \(table)")
        if !conditions.isEmpty { result.append(" WHERE " + conditions.joined(separator: " AND ")) }
        result.append(" ORDER BY \(order)")
        if let limit {
            result.append(" LIMIT ")
            result.bind(.int(Int64(max(limit, 0))))
        }
        return result
    }
}
