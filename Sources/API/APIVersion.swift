import Core
import HTTPTypes

/// The REST API's microversions: `1.1` up to `maximumMinor`.
public enum APIVersion {
    /// Lowest supported minor version (also what a request without a version header gets).
    public static let minimumMinor = 1
    /// Highest supported minor version.
    public static let maximumMinor = 78

    /// `1.1`.
    public static var minimumString: String { "1.\(minimumMinor)" }
    /// `1.78`.
    public static var maximumString: String { "1.\(maximumMinor)" }

    static let legacyHeader = HTTPField.Name("X-OpenStack-Ironic-API-Version")!
    static let standardHeader = HTTPField.Name("OpenStack-API-Version")!
    static let minimumHeader = HTTPField.Name("X-OpenStack-Ironic-API-Minimum-Version")!
    static let maximumHeader = HTTPField.Name("X-OpenStack-Ironic-API-Maximum-Version")!

    /// The minor version a request asks for, from `OpenStack-API-Version: baremetal 1.x` or
    /// `X-OpenStack-Ironic-API-Version: 1.x` (`latest` allowed); 1.1 without either.
    ///
    /// `ceiling` is the highest minor the route answers; `latest` still means `maximumMinor`.
    ///
    /// - Throws: 406 for a malformed value, another major version, or a minor out of range.
    public static func negotiate(_ headers: HTTPFields, ceiling: Int = maximumMinor) throws(IronicError) -> Int {
        var requested: String?
        for value in headers[values: standardHeader] {
            let parts = value.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2, parts[0].lowercased() == "baremetal" { requested = String(parts[1]) }
        }
        if requested == nil { requested = headers[legacyHeader] }
        guard let text = requested?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return minimumMinor }
        if text.lowercased() == "latest" { return maximumMinor }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else {
            throw .notAcceptable("Invalid value for X-OpenStack-Ironic-API-Version header")
        }
        guard major == 1 else {
            throw .notAcceptable(
                "Mutually exclusive versions requested. Version \(major).\(minor) requested but not supported by this service. The supported version range is: [\(minimumString), \(maximumString)].")
        }
        guard (minimumMinor...max(ceiling, maximumMinor)).contains(minor) else {
            throw .notAcceptable(
                "Version 1.\(minor) was requested but the minor version is not supported by this service. The supported version range is: [\(minimumString), \(maximumString)].")
        }
        return minor
    }
}

extension String {
    func trimmingCharacters(in _: WhitespaceSet) -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

/// Marker for trimming without Foundation's CharacterSet.
enum WhitespaceSet { case whitespaces }
