import ChildProcesses
import ConsoleProxy
import ConsoleProxyAPI
import Foundation
import Lab
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// TLS on a console's endpoints (`[ipmiproxy] cert_file` / `key_file`): TLS clients that trust
/// the certificate read the boot log over TCP and reach the WebSocket endpoint's server; plain
/// clients get nothing from either, and do not keep the console from stopping.
@Suite("Console endpoints over TLS", .timeLimit(.minutes(3)))
struct ConsoleTLSTests {
    @Test func tlsClientsReadTheConsoleAndPlainOnesDoNot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-console-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("console.pem").path
        let key = directory.appendingPathComponent("console.key").path
        let made = try await runTool(
            "openssl",
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert])
        try #require(made.status == 0, "\(made.output)")

        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy(configure: { $0.certFile = cert; $0.keyFile = key }) { proxy in
                let created = try await proxy.client.create(request(for: lab, server))
                #expect(created.endpoints.websocket.hasPrefix("wss://"), "\(created.endpoints.websocket)")
                let running = try #require(await proxy.waitFor(created.id) { $0.state == .running }, "SOL never came up")
                let port = tcpPort(running.endpoints.tcp)

                // A plain TCP client (it sends nothing, as socat would not) and a TLS client
                // that trusts the certificate attach; then the server boots.
                let plain = try TCPViewer(port: port)
                let tls = try ToolOutput(
                    "openssl", ["s_client", "-quiet", "-ign_eof", "-connect", "127.0.0.1:\(port)", "-CAfile", cert, "-verify_return_error"])
                defer { tls.stop() }
                #expect(await tls.waitFor("verify return:1"), "TLS handshake with the proxy's certificate: \(tls.output.suffix(400))")
                try await powerOn(lab, server)
                #expect(await tls.waitFor("\(server.name) login: "), "the TLS client reads the boot log: \(tls.output.suffix(400))")
                #expect(!(await plain.waitFor("login: ", timeout: .seconds(2))), "plain TCP must not see the console")

                // The WebSocket endpoint's server speaks HTTPS only.
                let webPort = tcpPort(String(running.endpoints.websocket.split(separator: "/")[1]))
                let https = try await runTool("curl", ["-sS", "--max-time", "10", "--cacert", cert, "https://127.0.0.1:\(webPort)/healthz"])
                #expect(https.status == 0 && https.output == "ok\n", "HTTPS to the WebSocket endpoint: \(https.output)")
                let http = try await runTool("curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(webPort)/healthz"])
                #expect(http.status != 0 || !http.output.contains("ok"), "plain HTTP must not be served: \(http.output)")

                // Stopping the console ends both sessions, the stalled plain one included.
                try await proxy.client.delete(created.id)
                #expect(await plain.waitForClose(timeout: .seconds(20)), "the plain client is disconnected")
            }
        }
    }
}

/// A tool's output as it runs (stdout and stderr), for clients that stay connected; the
/// process is terminated by `stop()`.
final class ToolOutput: @unchecked Sendable {
    private let process: ChildProcess
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    init(_ tool: String, _ arguments: [String]) throws {
        process = try ChildProcess(tool, arguments)
        process.output?.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { handle.readabilityHandler = nil; return }
            self.lock.withLock { self.bytes += data }
        }
    }

    var output: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    /// Waits until `text` shows up (true) or `timeout` passes.
    func waitFor(_ text: String, timeout: Duration = .seconds(60)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return output.contains(text)
    }

    /// Terminates the tool (by its PID) and waits for it.
    func stop() {
        process.terminate(grace: .seconds(2))
        process.output?.readabilityHandler = nil
    }
}
