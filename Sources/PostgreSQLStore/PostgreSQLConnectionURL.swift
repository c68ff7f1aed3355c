import Foundation

/// An Ironic (SQLAlchemy) PostgreSQL connection URL, `[database] connection`, taken apart:
///
///     postgresql://user:password@host:port/dbname?sslmode=disable
///
/// The schemes `postgresql`, `postgres` and `postgresql+psycopg2` (what Ironic's own
/// configurations use) are accepted. User and password may be percent-encoded. The port defaults
/// to 5432. `?host=/run/postgresql` (a directory) connects over that directory's Unix socket, as
/// libpq does. `sslmode` is `disable`, `allow`, `prefer` (the default), `require`, `verify-ca` or
/// `verify-full`; other query parameters (`connect_timeout`, `application_name`, ...) are ignored.
public struct PostgreSQLConnectionURL: Sendable, Hashable {
    /// How the connection uses TLS, after libpq's `sslmode`.
    public enum TLSMode: String, Sendable, Hashable {
        /// Never TLS.
        case disable
        /// TLS when the server offers it, without verifying its certificate (`allow`, `prefer`).
        case prefer
        /// TLS always, without verifying the certificate (`require`).
        case require
        /// TLS always, with a verified certificate and host name (`verify-ca`, `verify-full`).
        case verifyFull = "verify-full"
    }

    /// Where the server listens.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// TCP to a host name or address and a port.
        case tcp(host: String, port: Int)
        /// A Unix socket file.
        case unixSocket(path: String)

        /// `host:port` or the socket path.
        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path): path
            }
        }
    }

    /// The user name (default `postgres`).
    public var username: String
    /// The password, if any.
    public var password: String?
    /// The server.
    public var endpoint: Endpoint
    /// The database name (default: the user name, as libpq does).
    public var database: String
    /// TLS use.
    public var tls: TLSMode

    /// A URL that cannot be used, with the reason. `url` has its password replaced by `***`.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The URL as given, without its password.
        public let url: String
        /// What is wrong with it.
        public let reason: String

        /// `Invalid PostgreSQL connection URL "postgresql://ironic:***@db/ironic": <reason>`.
        public var description: String { "Invalid PostgreSQL connection URL \"\(url)\": \(reason)" }
    }

    /// The URL schemes this store serves.
    public static let schemes: Set<String> = ["postgresql", "postgres", "postgresql+psycopg2"]

    /// Parses `url`. Throws `ParseError` naming the URL without its password.
    public init(_ url: String) throws(ParseError) {
        func fail(_ reason: String) -> ParseError { ParseError(url: Self.redacted(url), reason: reason) }

        guard let schemeEnd = url.range(of: "://") else {
            throw fail("expected postgresql://user:password@host:port/dbname")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard Self.schemes.contains(scheme) else {
            throw fail("the scheme \"\(scheme)\" is not one of \(Self.schemes.sorted().joined(separator: ", "))")
        }
        var rest = url[schemeEnd.upperBound...]
        var parameters: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
                let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
                parameters[key] = value
            }
            rest = rest[..<question]
        }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        // userinfo@hostport; the password may contain '@' only percent-encoded, so split at the last one.
        var username = "postgres"
        var password: String?
        var hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let user = String(parts[0]).removingPercentEncoding, !user.isEmpty else {
                throw fail("the user name is empty or badly percent-encoded")
            }
            username = user
            if parts.count > 1 {
                guard let decoded = String(parts[1]).removingPercentEncoding else {
                    throw fail("the password is badly percent-encoded")
                }
                password = decoded
            }
        }
        if let user = parameters["user"], !user.isEmpty { username = user }
        if let secret = parameters["password"] { password = secret }

        var host = String(hostPort)
        var port = 5432
        if host.hasPrefix("[") {
            // [IPv6]:port
            guard let close = host.firstIndex(of: "]") else { throw fail("unterminated [IPv6 address]") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw fail("the port \"\(after.dropFirst())\" is not a number in 1...65535")
                }
                port = value
            } else if !after.isEmpty {
                throw fail("unexpected \"\(after)\" after the host")
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            let portText = host[host.index(after: colon)...]
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw fail("the port \"\(portText)\" is not a number in 1...65535")
            }
            port = value
            host = String(host[..<colon])
        }
        if let value = parameters["port"] {
            guard let number = Int(value), (1...65535).contains(number) else {
                throw fail("the port \"\(value)\" is not a number in 1...65535")
            }
            port = number
        }
        host = host.removingPercentEncoding ?? host
        if let socketHost = parameters["host"], !socketHost.isEmpty { host = socketHost }

        if host.hasPrefix("/") {
            endpoint = .unixSocket(path: host + "/.s.PGSQL.\(port)")
        } else if host.isEmpty {
            throw fail("no host; use postgresql://user:password@host:port/dbname (or ?host=/socket/directory)")
        } else {
            endpoint = .tcp(host: host, port: port)
        }

        guard let database = String(path).removingPercentEncoding, !database.contains("/") else {
            throw fail("the database name \"\(path)\" is badly percent-encoded or contains '/'")
        }
        self.database = database.isEmpty ? (parameters["dbname"] ?? username) : database
        self.username = username
        self.password = password

        switch parameters["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "allow", "prefer": tls = .prefer
        case "require": tls = .require
        case "verify-ca", "verify-full": tls = .verifyFull
        case let mode: throw fail("unknown sslmode \"\(mode)\"")
        }
    }

    /// `url` with the password (in the user information or a `password=` parameter) replaced by
    /// `***`. Malformed URLs are redacted too: whatever precedes the last `@` back to the
    /// previous `/` is taken as `user:password`.
    public static func redacted(_ url: String) -> String {
        var result = url
        let queryStart = result.firstIndex(of: "?") ?? result.endIndex
        if let at = result[..<queryStart].lastIndex(of: "@") {
            let userInfoStart = result[..<at].lastIndex(of: "/").map { result.index(after: $0) } ?? result.startIndex
            if let colon = result[userInfoStart..<at].firstIndex(of: ":") {
                result.replaceSubrange(result.index(after: colon)..<at, with: "***")
            }
        }
        if let range = result.range(of: "password=") {
            let end = result[range.upperBound...].firstIndex(of: "&") ?? result.endIndex
            result.replaceSubrange(range.upperBound..<end, with: "***")
        }
        return result
    }
}
