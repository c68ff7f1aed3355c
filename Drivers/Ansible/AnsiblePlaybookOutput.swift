import Core
import Foundation

/// What one `ansible-playbook` run said about each host, read from the output of Ansible's
/// `default` stdout callback (the runner selects it, with JSON results and no colour).
///
/// The outcome of a host is its `PLAY RECAP` line: a host with `failed=0` and
/// `unreachable=0` succeeded. For the others the reason is the last failure printed for them,
/// a `fatal: [host]: FAILED! => {...}` or `UNREACHABLE! => {...}` line (or, for a loop,
/// `failed: [host] (item=...) => {...}`), its `msg`, under the `TASK [name]` it belongs to.
/// Failures followed by `...ignoring` do not count. A host missing from the recap (the process
/// was killed or crashed, the playbook did not parse) has no outcome here.
///
/// ```swift
/// let output = AnsiblePlaybookOutput(parsing: text)
/// output.recap["b"]?.failed        // 1
/// output.failures["b"]?.task       // "Write the image"
/// output.failures["b"]?.message    // "disk on fire"
/// ```
public struct AnsiblePlaybookOutput: Sendable, Hashable {
    /// One `PLAY RECAP` line.
    public struct Recap: Sendable, Hashable {
        public var ok = 0, changed = 0, unreachable = 0, failed = 0, skipped = 0, rescued = 0, ignored = 0

        /// Whether the host ran the playbook through.
        public var succeeded: Bool { failed == 0 && unreachable == 0 }
    }

    /// The failure that stopped a host.
    public struct Failure: Sendable, Hashable {
        /// The task's name as `TASK [...]` shows it (`role : name` for role tasks).
        public var task: String
        /// The result's `msg` (with `stderr` for commands that exited non-zero).
        public var message: String
        /// `UNREACHABLE!` rather than `FAILED!`.
        public var unreachable: Bool
        /// The loop item that failed (`item=...`), for loops.
        public var item: String?

        /// The node's error, as the deploy interface reports it.
        public var description: String {
            let reason = unreachable ? "host unreachable: \(message)" : message
            return "Ansible task '\(task)' failed on node: \(reason)\(item.map { " (item=\($0))" } ?? "")"
        }
    }

    /// The recap, by host.
    public var recap: [String: Recap] = [:]
    /// The last failure of each host that was not ignored.
    public var failures: [String: Failure] = [:]

    /// An empty report.
    public init() {}

    /// Reads the output of a run.
    public init(parsing text: String) {
        var task = "(before any task)"
        var taskSerial = 0
        var failureSerial: [String: Int] = [:]
        var lastFailedHost: String?
        var inRecap = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }[...]

        while let line = lines.popFirst() {
            if inRecap {
                if let (host, counts) = Self.recapLine(line) { recap[host] = counts }
                continue
            }
            if line.hasPrefix("PLAY RECAP ") || line == "PLAY RECAP" {
                inRecap = true
                continue
            }
            if let name = Self.bracketed(line, after: "TASK [") ?? Self.bracketed(line, after: "RUNNING HANDLER [") {
                task = name
                taskSerial += 1
                continue
            }
            if line.hasPrefix("...ignoring") {
                if let host = lastFailedHost, failureSerial[host] == taskSerial {
                    failures[host] = nil
                    failureSerial[host] = nil
                }
                continue
            }
            guard let header = Self.failureHeader(line) else { continue }
            let json = Self.completeJSON(header.rest, more: &lines)
            lastFailedHost = header.host
            // A loop prints one line per failed item: the first one explains the task.
            if failureSerial[header.host] == taskSerial, failures[header.host] != nil { continue }
            failures[header.host] = Failure(
                task: task, message: Self.message(from: json), unreachable: header.unreachable, item: header.item)
            failureSerial[header.host] = taskSerial
        }
    }

    /// `name` from `TASK [name] ****`.
    private static func bracketed(_ line: String, after prefix: String) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count)
        guard let end = rest.range(of: "]", options: .backwards) else { return nil }
        return String(rest[..<end.lowerBound])
    }

    /// `a   : ok=1    changed=0    unreachable=0    failed=0 ...`.
    private static func recapLine(_ line: String) -> (String, Recap)? {
        guard let separator = line.range(of: " : ") else { return nil }
        let host = line[..<separator.lowerBound].trimmingCharacters(in: .whitespaces)
        var recap = Recap()
        var sawOK = false
        for token in line[separator.upperBound...].split(separator: " ") {
            let parts = token.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            switch parts[0] {
            case "ok":
                recap.ok = value
                sawOK = true
            case "changed": recap.changed = value
            case "unreachable": recap.unreachable = value
            case "failed": recap.failed = value
            case "skipped": recap.skipped = value
            case "rescued": recap.rescued = value
            case "ignored": recap.ignored = value
            default: break
            }
        }
        guard sawOK, !host.isEmpty else { return nil }
        return (host, recap)
    }

    private struct FailureHeader {
        var host: String
        var unreachable: Bool
        var item: String?
        var rest: String
    }

    /// `fatal: [host]: FAILED! => ...`, `fatal: [host -> delegate]: UNREACHABLE! => ...`,
    /// `failed: [host] (item=x) => ...`.
    private static func failureHeader(_ line: String) -> FailureHeader? {
        let isFatal = line.hasPrefix("fatal: [")
        guard isFatal || line.hasPrefix("failed: [") else { return nil }
        let afterBracket = line.dropFirst(isFatal ? 8 : 9)
        guard let close = afterBracket.firstIndex(of: "]") else { return nil }
        var host = String(afterBracket[..<close])
        if let arrow = host.range(of: " -> ") { host = String(host[..<arrow.lowerBound]) }
        let tail = afterBracket[afterBracket.index(after: close)...]
        guard let arrow = tail.range(of: " => ") else { return nil }
        let rest = String(tail[arrow.upperBound...])
        if isFatal {
            let kind = tail[..<arrow.lowerBound]
            return FailureHeader(host: host, unreachable: kind.contains("UNREACHABLE!"), item: nil, rest: rest)
        }
        var item: String?
        let between = tail[..<arrow.lowerBound].trimmingCharacters(in: .whitespaces)
        if between.hasPrefix("(item="), between.hasSuffix(")") {
            item = String(between.dropFirst(6).dropLast())
        }
        return FailureHeader(host: host, unreachable: false, item: item, rest: rest)
    }

    /// The result JSON starting at `first`; at verbosity 3 and up Ansible indents it over
    /// several lines, which are taken from `more` until the braces balance.
    private static func completeJSON(_ first: String, more lines: inout ArraySlice<String>) -> JSONValue? {
        guard first.hasPrefix("{") else { return nil }
        var text = first
        var depth = braceDepth(text)
        var taken = 0
        while depth > 0, let next = lines.first, taken < 100_000 {
            lines.removeFirst()
            text += "\n" + next
            depth = braceDepth(text)
            taken += 1
        }
        return try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// `{` minus `}` outside JSON strings.
    private static func braceDepth(_ text: String) -> Int {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in text.utf8 {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return depth
    }

    /// `msg`, with a command's `stderr` after it; the JSON itself when there is no `msg`.
    private static func message(from json: JSONValue?) -> String {
        guard let object = json?.objectValue else { return "no reason given (see the playbook output)" }
        var message: String
        switch object["msg"] {
        case .string(let text)?: message = text
        case let value?: message = value.serialized()
        case nil: message = object["reason"]?.stringValue ?? json?.serialized() ?? ""
        }
        if let stderr = object["stderr"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !stderr.isEmpty,
            !message.contains(stderr)
        {
            message += ": " + (stderr.count > 500 ? String(stderr.prefix(500)) + "..." : stderr)
        }
        return message.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
