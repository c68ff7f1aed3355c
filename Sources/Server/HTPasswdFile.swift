import CCrypt
import Core
import Foundation
import Synchronization

/// The credentials of an Apache-style htpasswd file, as Ironic's `http_basic` authentication
/// reads them (`[json_rpc] http_basic_auth_user_file`): one `user:hash` per line, bcrypt hashes
/// only (`$2y$`, `$2b$`, `$2a$`, as `htpasswd -B` writes). Blank lines and `#` comments are
/// skipped.
///
/// The file is read again when it changes, so credentials rotate without a restart. A bcrypt
/// check costs tens of milliseconds by design: the password last verified for each user is
/// remembered (compared in constant time), so a client sending the same credentials on every
/// call pays for bcrypt once.
final class HTPasswdFile: Sendable {
    let path: String
    private let state: Mutex<State>

    private struct State {
        var modified: Date?
        var hashes: [String: String]
        var verified: [String: [UInt8]] = [:]
    }

    /// Reads `path`.
    ///
    /// - Throws: `ConfigError` when the file cannot be read or has an entry that is not bcrypt.
    init(path: String) throws(ConfigError) {
        self.path = path
        let (modified, hashes) = try Self.load(path)
        state = Mutex(State(modified: modified, hashes: hashes))
    }

    /// Whether `password` is `username`'s.
    func verify(username: String, password: String) -> Bool {
        refreshIfChanged()
        let given = Array(password.utf8)
        guard let hash = state.withLock({ $0.hashes[username] }) else {
            return false
        }
        if let remembered = state.withLock({ $0.verified[username] }), constantTimeEqual(remembered, given) {
            return true
        }
        guard let computed = Self.bcrypt(password, setting: hash), constantTimeEqual(Array(computed.utf8), Array(hash.utf8)) else {
            return false
        }
        state.withLock { state in
            if state.hashes[username] == hash { state.verified[username] = given }
        }
        return true
    }

    private func refreshIfChanged() {
        let modified = Self.modificationDate(path)
        guard modified != state.withLock({ $0.modified }) else { return }
        // A file being rewritten may be unreadable for a moment: keep the old entries then.
        guard let (date, hashes) = try? Self.load(path) else { return }
        state.withLock { $0 = State(modified: date, hashes: hashes) }
    }

    private static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    private static func load(_ path: String) throws(ConfigError) -> (Date?, [String: String]) {
        let modified = modificationDate(path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(source: path, message: "cannot read the htpasswd file: \(error.localizedDescription)")
        }
        var hashes: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw ConfigError(source: "\(path):\(index + 1)", message: "expected 'user:hash'")
            }
            let hash = String(line[line.index(after: colon)...])
            guard ["$2y$", "$2b$", "$2a$"].contains(where: hash.hasPrefix) else {
                throw ConfigError(source: "\(path):\(index + 1)", message: "only bcrypt hashes are supported (htpasswd -B)")
            }
            hashes[String(line[..<colon])] = hash
        }
        return (modified, hashes)
    }

    /// `crypt(3)` of `password` with the salt and cost of `setting`; nil when libcrypt refuses.
    static func bcrypt(_ password: String, setting: String) -> String? {
        var data = crypt_data()
        guard let result = crypt_r(password, setting, &data) else { return nil }
        let text = String(cString: result)
        // libxcrypt reports failure with a string starting with '*' rather than NULL.
        return text.hasPrefix("*") ? nil : text
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
