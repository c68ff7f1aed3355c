/// An `ironic.conf`-style INI document: `[section]` headers, `key = value` lines, `#` and `;`
/// comments. Section and key names are case-sensitive, as in oslo.config.
public struct INIFile: Sendable, Hashable {
    /// Values by section, then key.
    public private(set) var sections: [String: [String: String]] = [:]

    /// An empty document.
    public init() {}

    /// Parses `text`; `source` names it in error messages.
    public init(parsing text: String, source: String = "<config>") throws(ConfigError) {
        var section: String?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ConfigError(source: source, line: index + 1, message: "malformed section header \(line)")
                }
                let name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                section = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let section else {
                throw ConfigError(source: source, line: index + 1, message: "option outside of any section")
            }
            guard let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigError(source: source, line: index + 1, message: "expected 'key = value'")
            }
            let key = line[..<separator].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else {
                throw ConfigError(source: source, line: index + 1, message: "empty option name")
            }
            sections[section, default: [:]][key] = value
        }
    }

    /// The raw value of `key` in `section`.
    public func value(_ section: String, _ key: String) -> String? {
        sections[section]?[key]
    }

    /// Sets a value (used to layer several files: later files win).
    public mutating func set(_ section: String, _ key: String, _ value: String) {
        sections[section, default: [:]][key] = value
    }

    /// This document with `other`'s values laid over it.
    public func merging(_ other: INIFile) -> INIFile {
        var result = self
        for (section, values) in other.sections {
            for (key, value) in values { result.set(section, key, value) }
        }
        return result
    }
}

/// A configuration file that cannot be read or holds a bad value.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var message: String

    /// Creates an error.
    public init(source: String, line: Int? = nil, message: String) {
        self.source = source
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(source):\(line): \(message)" }
        return "\(source): \(message)"
    }
}

extension String {
    func trimmingCharacters(in set: Character.Whitespace) -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

extension Substring {
    func trimmingCharacters(in set: Character.Whitespace) -> String {
        String(self).trimmingCharacters(in: set)
    }
}

extension Character {
    /// Marker for `trimmingCharacters(in: .whitespaces)` without Foundation.
    enum Whitespace { case whitespaces }
}
