import ConsoleProxy
import ConsoleProxyAPI
import Foundation
import Testing

@testable import Lab

/// The proxy against real ipmi_sim BMCs, real libipmiconsole and real worker processes.
@Suite(.serialized) struct ConsoleProxyLabTests {
    @Test func bootLogOverTCPTypedLineEchoedTwoViewersAndLog() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy { proxy in
                let created = try await proxy.client.create(request(for: lab, server))
                #expect(created.state == .starting)
                #expect(created.endpoints.tcp.hasPrefix("tcp://127.0.0.1:"))
                let running = try #require(await proxy.waitFor(created.id) { $0.state == .running }, "SOL never came up")
                #expect(running.pid != nil)

                let first = try TCPViewer(port: tcpPort(running.endpoints.tcp))
                let second = try TCPViewer(port: tcpPort(running.endpoints.tcp))
                try await powerOn(lab, server)
                #expect(await first.waitFor("\(server.name) login: "), "\(first.received)")
                #expect(await second.waitFor("\(server.name) login: "), "\(second.received)")
                #expect(first.received.contains("SeaBIOS"))

                // One writer at a time: the first viewer types, both see the echo.
                #expect(try await first.typeUntilEchoed("hello-from-first"), "\(first.received)")
                #expect(await second.waitFor("hello-from-first\r\n"), "\(second.received)")
                // The second viewer is read-only while the first holds the seat.
                try second.send("x")
                #expect(await second.waitFor("read-only"), "\(second.received)")

                let record = try #require(try await proxy.client.get(created.id))
                #expect(record.clients == 2 || record.clients == 0 || record.clients == 1)  // stats arrive once a second
                #expect(await proxy.waitFor(created.id, timeout: .seconds(10)) { $0.clients == 2 && $0.bytesIn > 0 && $0.bytesOut > 0 } != nil)
            }
        }
    }

    @Test func logIsReadableWithNobodyAttached() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy { proxy in
                let created = try await proxy.client.create(request(for: lab, server, options: ConsoleOptions(logSize: 64 * 1024)))
                _ = try #require(await proxy.waitFor(created.id) { $0.state == .running })
                try await powerOn(lab, server)
                let deadline = ContinuousClock.now + .seconds(60)
                var log = ""
                while ContinuousClock.now < deadline, !log.contains("\(server.name) login: ") {
                    log = String(decoding: try await proxy.client.log(created.id), as: UTF8.self)
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(log.contains("SeaBIOS"), "\(log)")
                #expect(log.contains("\(server.name) login: "), "\(log)")
                #expect(try await proxy.client.get(created.id)?.clients == 0)
            }
        }
    }

    @Test func killedWorkerIsRestartedAndReadableAgain() async throws {
        try await withLab(count: 1) { lab in
            let server = lab.servers[0]
            try await withProxy { proxy in
                let created = try await proxy.client.create(request(for: lab, server))
                let first = try #require(await proxy.waitFor(created.id) { $0.state == .running })
                let pid = try #require(first.pid)
                #expect(kill(pid_t(pid), SIGKILL) == 0)
                let again = try #require(
                    await proxy.waitFor(created.id) { $0.state == .running && $0.pid != nil && $0.pid != pid },
                    "the worker was not restarted")
                #expect(again.restarts >= 1)
                #expect(again.lastError?.contains("signal 9") == true, "\(again.lastError ?? "")")
                #expect(again.endpoints.tcp == first.endpoints.tcp, "the TCP endpoint survives a restart")
                try await powerOn(lab, server)
                let viewer = try TCPViewer(port: tcpPort(again.endpoints.tcp))
                #expect(await viewer.waitFor("\(server.name) login: "), "\(viewer.received)")
                #expect(try await viewer.typeUntilEchoed("after-restart"), "\(viewer.received)")
            }
        }
    }

    @Test func crashingBMCEndsInErrorStateWhileOtherConsolesRun() async throws {
        try await withLab(count: 2) { lab in
            let healthy = lab.servers[0]
            let crashing = lab.servers[1]
            try await withProxy(configure: {
                $0.maxRestarts = 1
                $0.solSessionTimeout = .seconds(5)
                $0.solKeepalive = .seconds(2)
            }) { proxy in
                let good = try await proxy.client.create(request(for: lab, healthy))
                // Without solchannelsupport ipmi_sim 2.0.33 crashes on Get Channel Payload Support.
                let bad = try await proxy.client.create(
                    request(for: lab, crashing, workarounds: "opensesspriv,solstatus,solpayloadsize"))
                let failed = try #require(await proxy.waitFor(bad.id, timeout: .seconds(90)) { $0.state == .error }, "no error state")
                #expect(failed.lastError?.contains("Gave up after 2 failed attempts") == true, "\(failed.lastError ?? "")")
                #expect(failed.pid == nil)
                #expect(!crashing.isRunning, "the simulated BMC crashed as expected")

                #expect(await proxy.client.isHealthy())
                let running = try #require(await proxy.waitFor(good.id) { $0.state == .running })
                try await powerOn(lab, healthy)
                let viewer = try TCPViewer(port: tcpPort(running.endpoints.tcp))
                #expect(await viewer.waitFor("\(healthy.name) login: "), "\(viewer.received)")
                #expect(try await viewer.typeUntilEchoed("still-fine"), "\(viewer.received)")
                // The error state stays put: no more restarts.
                let later = try #require(try await proxy.client.get(bad.id))
                #expect(later.state == .error && later.restarts == failed.restarts)
            }
        }
    }

    @Test func deleteAndDaemonStopEndTheirWorkers() async throws {
        try await withLab(count: 2) { lab in
            var pids: [Int] = []
            try await withProxy { proxy in
                let one = try await proxy.client.create(request(for: lab, lab.servers[0]))
                let two = try await proxy.client.create(request(for: lab, lab.servers[1]))
                let first = try #require(await proxy.waitFor(one.id) { $0.state == .running })
                let second = try #require(await proxy.waitFor(two.id) { $0.state == .running })
                try await proxy.client.delete(one.id)
                #expect(!processExists(first.pid!), "DELETE stops the worker")
                #expect(try await proxy.client.get(one.id) == nil)
                #expect(try await proxy.client.list().map(\.id) == [two.id])
                pids = [second.pid!]
            }
            for pid in pids { #expect(!processExists(pid), "stopping the daemon stops every worker") }
        }
    }
}
