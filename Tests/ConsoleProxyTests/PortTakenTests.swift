import ConsoleProxy
import ConsoleProxyAPI
import Foundation
import IronicTesting
import Testing

@testable import Lab

/// Another process takes a console's port while its worker restarts (the proxy keeps the port
/// reserved, but nothing holds it between two workers): a console whose port nobody asked for
/// moves to new ports; one pinned to its port (nova's URL) keeps trying it and ends in an error
/// that names the port.
@Suite struct PortTakenTests {
    @Test func aConsoleWhosePortIsTakenDuringARestartMovesToNewPorts() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy(configure: { $0.restartBackoff = .seconds(1) }) { proxy in
                let created = try await proxy.client.create(request(for: lab, server))
                let first = try #require(await proxy.waitFor(created.id) { $0.state == .running })
                let port = tcpPort(first.endpoints.tcp)
                let squatter = try await PortSquatter.take(port, afterKilling: pid_t(try #require(first.pid)))

                let moved = try #require(
                    await proxy.waitFor(created.id) { $0.state == .running && $0.endpoints.tcp != first.endpoints.tcp },
                    "the console did not move off the taken port")
                #expect(moved.endpoints.websocket != first.endpoints.websocket)
                #expect(try await proxy.client.list().map(\.id) == [created.id])
                try await powerOn(lab, server)
                let viewer = try TCPViewer(port: tcpPort(moved.endpoints.tcp))
                #expect(try await viewer.typeUntilEchoed("on-the-new-port"), "\(viewer.received)")
                withExtendedLifetime(squatter) {}
            }
        }
    }

    @Test func aConsolePinnedToItsPortEndsInAnErrorNamingIt() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy(configure: {
                $0.restartBackoff = .seconds(1)
                $0.maxRestarts = 2
            }) { proxy in
                let pinned = proxy.server.config.portRange.lowerBound + 7
                let created = try await proxy.client.create(request(for: lab, server, options: ConsoleOptions(tcpPort: pinned)))
                let first = try #require(await proxy.waitFor(created.id) { $0.state == .running })
                #expect(tcpPort(first.endpoints.tcp) == pinned)
                let squatter = try await PortSquatter.take(pinned, afterKilling: pid_t(try #require(first.pid)))

                let failed = try #require(await proxy.waitFor(created.id, timeout: .seconds(90)) { $0.state == .error }, "no error state")
                #expect(tcpPort(failed.endpoints.tcp) == pinned, "a pinned port never moves")
                #expect(failed.lastError?.contains("Cannot listen on 127.0.0.1:\(pinned)") == true, "\(failed.lastError ?? "")")
                withExtendedLifetime(squatter) {}
            }
        }
    }
}
