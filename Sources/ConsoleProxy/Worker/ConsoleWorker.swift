import Foundation
import Hummingbird
import IPMI
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One console's worker process: holds the SOL session, the console log and both client
/// endpoints, and reports to its supervisor over stdout. It never forks.
///
/// Life cycle: read the spec (first stdin line) → bind both endpoints (exit 5 when a port is
/// taken) → report `listening` → open SOL (report `established`) → serve until SOL ends (report
/// `failed`, exit 3; settings that cannot work exit 4) or the supervisor says `stop` or closes
/// stdin (exit 0).
public enum ConsoleWorker {
    /// Runs the worker with the spec read from stdin; never returns.
    public static func main(logger: Logger) async -> Never {
        let reporter = WorkerReporter()
        guard let line = readLine(strippingNewline: true), let spec = try? JSONDecoder().decode(WorkerSpec.self, from: Data(line.utf8))
        else {
            reporter.send(WorkerEvent(event: .failed, failure: .fatal, message: "The worker did not receive a valid spec on stdin."))
            exit(WorkerExitStatus.fatal)
        }
        await run(spec, reporter: reporter, logger: logger)
    }

    static func fail(_ reporter: WorkerReporter, _ failure: WorkerEvent.Failure, _ message: String, status: Int32) -> Never {
        reporter.send(WorkerEvent(event: .failed, failure: failure, message: message))
        exit(status)
    }

    static func run(_ spec: WorkerSpec, reporter: WorkerReporter, logger: Logger) async -> Never {
        var logger = logger
        logger[metadataKey: "console"] = "\(spec.consoleID)"
        logger[metadataKey: "node"] = "\(spec.nodeUUID)"

        var settings = SOLSettings(host: spec.bmcHost, port: spec.bmcPort, username: spec.username, password: spec.password)
        guard let privilege = SOLSettings.Privilege(rawValue: spec.privilege.uppercased()) else {
            fail(reporter, .fatal, "Unknown privilege level '\(spec.privilege)'.", status: WorkerExitStatus.fatal)
        }
        settings.privilege = privilege
        settings.cipherSuite = spec.cipherSuite
        settings.workarounds = Set(spec.workarounds)
        settings.sessionTimeout = .milliseconds(spec.sessionTimeoutMilliseconds)
        settings.keepaliveTimeout = .milliseconds(spec.keepaliveMilliseconds)
        do { try settings.validate() } catch {
            fail(reporter, .fatal, error.message, status: WorkerExitStatus.fatal)
        }

        let tls: (NIOSSLContext, TLSConfiguration)?
        do { tls = try makeTLS(spec) } catch {
            fail(reporter, .fatal, "TLS set-up failed: \(error)", status: WorkerExitStatus.fatal)
        }

        let engine: SOLEngine
        do { engine = try SOLEngine(threads: 1) } catch {
            fail(reporter, .sol, error.message, status: WorkerExitStatus.solFailed)
        }
        let pump = SOLPump(settings: settings, engine: engine)
        let hub = ConsoleHub(logSize: spec.logSize, writerIdleTimeout: .milliseconds(Int64(spec.writerIdleSeconds * 1000))) {
            pump.write($0)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        do {
            _ = try await TCPEndpoint.bind(host: spec.bindHost, port: spec.tcpPort, group: group, hub: hub, replay: spec.tcpReplay, tls: tls?.0)
        } catch {
            fail(reporter, .portInUse, "Cannot listen on \(spec.bindHost):\(spec.tcpPort) (TCP): \(error)", status: WorkerExitStatus.portInUse)
        }
        let webPort = AsyncStream<Int>.makeStream()
        let application: any ApplicationProtocol
        do {
            application = try WebEndpoint.application(
                host: spec.bindHost, port: spec.webPort, token: spec.token, hub: hub, group: group, tls: tls?.1, logger: logger,
                onRunning: { port in webPort.continuation.yield(port) })
        } catch {
            fail(reporter, .fatal, "Cannot set up the WebSocket endpoint: \(error)", status: WorkerExitStatus.fatal)
        }
        Task {
            do { try await application.runService() } catch {
                fail(reporter, .portInUse, "Cannot listen on \(spec.bindHost):\(spec.webPort) (WebSocket): \(error)", status: WorkerExitStatus.portInUse)
            }
        }
        var boundWebPort = spec.webPort
        for await port in webPort.stream {
            boundWebPort = port
            break
        }
        reporter.send(WorkerEvent(event: .listening, tcpPort: spec.tcpPort, webPort: boundWebPort))

        let stopping = Mutex(false)
        let target = settings.target
        let log = logger
        pump.start(
            established: {
                log.info("serial-over-LAN established", metadata: ["bmc": "\(target)"])
                reporter.send(WorkerEvent(event: .established))
            },
            output: { hub.output($0) },
            ended: { error in
                hub.closeAll("serial-over-LAN ended")
                guard let error, !stopping.withLock({ $0 }) else { return }
                log.warning("serial-over-LAN ended: \(error)")
                let fatal = !error.isRetryable
                fail(reporter, fatal ? .fatal : .sol, error.message, status: fatal ? WorkerExitStatus.fatal : WorkerExitStatus.solFailed)
            })

        let commands = Thread {
            Thread.current.name = "worker-commands"
            readCommands(hub: hub, reporter: reporter)
            stopping.withLock { $0 = true }
            pump.stop()
            hub.closeAll("console stopped")
            engine.tearDown(cleanly: true)
            exit(WorkerExitStatus.stopped)
        }
        commands.start()

        // Counters for the supervisor, when they change; bounded by the process's life.
        var last = ConsoleHub.Stats()
        while true {
            try? await Task.sleep(for: .seconds(1))
            let now = hub.stats
            if now != last {
                last = now
                reporter.send(WorkerEvent(event: .stats, bytesIn: now.bytesIn, bytesOut: now.bytesOut, clients: now.clients))
            }
        }
    }

    /// Reads commands until `stop` or end of stdin.
    static func readCommands(hub: ConsoleHub, reporter: WorkerReporter) {
        while let line = readLine(strippingNewline: true) {
            guard let command = try? JSONDecoder().decode(WorkerCommand.self, from: Data(line.utf8)) else { continue }
            switch command.command {
            case .log:
                reporter.send(WorkerEvent(event: .log, request: command.request, data: Data(hub.log).base64EncodedString()))
            case .stop:
                return
            }
        }
    }

    static func makeTLS(_ spec: WorkerSpec) throws -> (NIOSSLContext, TLSConfiguration)? {
        guard let certificate = spec.tlsCertificateFile, let key = spec.tlsKeyFile else { return nil }
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return (try NIOSSLContext(configuration: configuration), configuration)
    }
}
