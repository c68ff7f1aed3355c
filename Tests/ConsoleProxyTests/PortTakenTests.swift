import ConsoleProxy
import ConsoleProxyAPI
import Foundation
import Testing

@testable import Lab

#if canImport(Glibc)
    import Glibc
#endif

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
                let squatter = try await takePortOnceFree(port, afterKilling: try #require(first.pid))
                defer { close(squatter) }

                let moved = try #require(
                    await proxy.waitFor(created.id) { $0.state == .running && $0.endpoints.tcp != first.endpoints.tcp },
                    "the console did not move off the taken port")
                #expect(moved.endpoints.websocket != first.endpoints.websocket)
                #expect(try await proxy.client.list().map(\.id) == [created.id])
                try await powerOn(lab, server)
                let viewer = try TCPViewer(port: tcpPort(moved.endpoints.tcp))
                #expect(try await viewer.typeUntilEchoed("on-the-new-port"), "\(viewer.received)")
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
                let squatter = try await takePortOnceFree(pinned, afterKilling: try #require(first.pid))
                defer { close(squatter) }

                let failed = try #require(await proxy.waitFor(created.id, timeout: .seconds(90)) { $0.state == .error }, "no error state")
                #expect(tcpPort(failed.endpoints.tcp) == pinned, "a pinned port never moves")
                #expect(failed.lastError?.contains("Cannot listen on 127.0.0.1:\(pinned)") == true, "\(failed.lastError ?? "")")
            }
        }
    }
}

/// Kills the worker with SIGKILL and binds `port` (listening, as another service would) as
/// soon as the dead worker has let go of it, well within the proxy's restart backoff.
private func takePortOnceFree(_ port: Int, afterKilling pid: Int) async throws -> Int32 {
    #expect(kill(pid_t(pid), SIGKILL) == 0)
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if let fd = listeningSocket(port) { return fd }
        try await Task.sleep(for: .milliseconds(5))
    }
    throw PortTakenError(port: port)
}

private struct PortTakenError: Error, CustomStringConvertible {
    let port: Int
    var description: String { "port \(port) stayed busy after the worker was killed" }
}

private func listeningSocket(_ port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard bound, listen(fd, 1) == 0 else {
        close(fd)
        return nil
    }
    return fd
}
