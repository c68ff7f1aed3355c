import PostgresNIO

extension PostgreSQLConnectionURL {
    /// A postgres-nio client configuration for this URL, with postgres-nio's default options.
    public var clientConfiguration: PostgresClient.Configuration {
        switch endpoint {
        case .tcp(let host, let port):
            PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database,
                tls: Self.clientTLS(tls))
        case .unixSocket(let path):
            PostgresClient.Configuration(
                unixSocketPath: path, username: username, password: password, database: database)
        }
    }

    /// libpq's meaning of `sslmode`: only `verify-*` checks the server's certificate.
    static func clientTLS(_ mode: TLSMode) -> PostgresClient.Configuration.TLS {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(unverified)
        case .require: return .require(unverified)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }
}
