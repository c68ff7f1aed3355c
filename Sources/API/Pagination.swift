import Core
import Foundation
import Store

/// `limit`, `marker`, `sort_key`, `sort_dir` and the collection's `next` link.
struct Pagination {
    let page: PageQuery
    /// Effective limit (never above `[api] max_limit`).
    let limit: Int

    /// Parses paging parameters; 400 for a bad limit, sort key, direction or marker.
    init(_ request: APIRequest, maxLimit: Int, sortKeys: Set<String>) throws(IronicError) {
        var limit = maxLimit
        if let raw = request.query["limit"] {
            guard let value = Int(raw) else { throw .badRequest("Invalid value for limit: '\(raw)'. Expected an integer.") }
            guard value > 0 else { throw .badRequest("Limit must be positive") }
            limit = min(value, maxLimit)
        }
        let sortKey = request.query["sort_key"] ?? "id"
        guard sortKeys.contains(sortKey) else {
            throw .badRequest("The sort_key value \"\(sortKey)\" is an invalid field for sorting")
        }
        let direction: SortDirection
        switch request.query["sort_dir"]?.lowercased() ?? "asc" {
        case "asc": direction = .ascending
        case "desc": direction = .descending
        case let other: throw .badRequest("Invalid sort direction: \(other). Acceptable values are 'asc' or 'desc'")
        }
        let marker = request.query["marker"]
        if let marker, !UUIDText.isValid(marker) { throw .invalidUUID(marker) }
        self.limit = limit
        self.page = PageQuery(limit: limit, marker: marker?.lowercased(), sortKey: sortKey, sortDirection: direction)
    }

    /// The `next` URL when the page is full, carrying the other query parameters along.
    func next(_ request: APIRequest, resource: String, count: Int, lastUUID: String?) -> JSONValue? {
        guard count == limit, let lastUUID else { return nil }
        var parts: [String] = []
        for key in request.query.keys.sorted() where key != "limit" && key != "marker" {
            parts.append("\(Self.escape(key))=\(Self.escape(request.query[key]!))")
        }
        parts.append("limit=\(limit)")
        parts.append("marker=\(lastUUID)")
        return .string("\(request.baseURL)/v1/\(resource)?\(parts.joined(separator: "&"))")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? text
    }

    /// `{"<name>": [...], "next": ...}` (next only when there may be more).
    func collection(_ name: String, _ items: [JSONValue], request: APIRequest, resource: String, lastUUID: String?) -> JSONValue {
        var document: [String: JSONValue] = [name: .array(items)]
        if let next = next(request, resource: resource, count: items.count, lastUUID: lastUUID) { document["next"] = next }
        return .object(document)
    }
}
