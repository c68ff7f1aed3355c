import ConsoleProxyAPI
import Core
import Foundation
import IPMI
import Logging

/// `ipmi-proxy` console (also registered as `ipmitool-socat`, Ironic's name): serial-over-LAN
/// through an `ironic-ipmiproxy` daemon. The proxy holds the SOL session in a worker process
/// and serves it on a raw TCP port, so `console_info` is `{"type": "socat", "url":
/// "tcp://host:port"}`, which nova's serial console uses unchanged.
///
/// The console's whereabouts live in `driver_internal_info` (`ipmi_proxy_*` keys), so reading
/// `console_info` never touches the BMC nor the proxy, and any conductor can stop or restore it.
public struct IPMIProxyConsole: ConsoleInterface, ConsoleRestoring {
    /// `ipmi-proxy`.
    public var name: String { "ipmi-proxy" }
    /// Ironic's name for its socat console, accepted as an alias.
    public static let ironicAlias = "ipmitool-socat"

    let settings: IPMIProxyConsoleSettings
    let driverSettings: IPMIDriverSettings

    /// Creates the interface.
    public init(settings: IPMIProxyConsoleSettings, driverSettings: IPMIDriverSettings = IPMIDriverSettings()) {
        self.settings = settings
        self.driverSettings = driverSettings
    }

    /// The `ipmi_*` keys plus the console's own.
    public var properties: [String: String] {
        IPMIDriverInfo.properties.merging([
            "ipmi_console_log": "Keep a console log (ring buffer) on the proxy, readable through "
                + "GET /v1/nodes/{node}/console/log; default true. Optional.",
            "ipmi_console_log_size": "Console log size in bytes; default: the proxy's log_size. Optional.",
            "ipmi_poll_during_console": "Whether power status may be read while the console is enabled; default true. "
                + "Set false for BMCs that fail when polled during serial-over-LAN. Optional.",
        ]) { first, _ in first }
    }

    /// Checks driver_info and that a proxy is configured.
    public func validate(_ task: NodeTask) async throws {
        _ = try IPMIDriverInfo(node: task.node, settings: driverSettings)
        guard settings.hasProxy else {
            throw IronicError.invalidParameterValue(
                "The ipmi-proxy console needs [ipmi] console_proxy_urls (ironic standalone starts a local proxy itself).")
        }
        _ = try consoleOptions(task.node)
    }

    /// Starts the console on the proxy it last ran on, else on the node's first choice among
    /// the configured proxies; a proxy that does not answer is passed over for the next one.
    /// An existing console of the node on that proxy is reused.
    public func startConsole(_ task: NodeTask) async throws {
        let info = try IPMIDriverInfo(node: task.node, settings: driverSettings)
        let session = info.session
        let request = ConsoleRequest(
            nodeUUID: task.node.uuid,
            bmc: BMCEndpoint(
                address: session.host, port: session.port, username: session.username, password: session.password,
                privilegeLevel: session.privilege == .callback ? "USER" : session.privilege.rawValue,
                cipherSuite: session.cipherSuite, workarounds: Array(session.workarounds.union(info.consoleWorkarounds)).sorted()),
            options: try consoleOptions(task.node))
        let current = task.node.driverInternalInfo["ipmi_proxy_url"]?.stringValue.flatMap(URL.init(string:))
        // On the proxy it ran on, the console asks for its old TCP port: nova's URL stays valid.
        let previousPort = task.node.driverInternalInfo["ipmi_proxy_tcp_url"]?.stringValue.flatMap { Int($0.split(separator: ":").last ?? "") }
        let proxies = await settings.placementOrder(for: task.node.uuid, current: current)
        guard !proxies.isEmpty else {
            throw IronicError(status: 400, code: "InvalidParameterValue", message: "No console proxy is configured ([ipmi] console_proxy_urls).")
        }
        // The old port only means something on the proxy it was on (or, after a stop, the first choice).
        let pinnedOn = current ?? proxies[0]
        var unreachable: [String] = []
        for proxy in proxies {
            let record: ConsoleRecord
            do {
                record = try await createOrReuse(on: proxy, request, port: proxy == pinnedOn ? previousPort : nil)
            } catch where error.isUnreachable && proxy != proxies.last {
                unreachable.append(error.description)
                task.logger.warning("console proxy unreachable, trying the next one: \(error)")
                continue
            } catch {
                let before = unreachable.isEmpty ? "" : " (before it: \(unreachable.joined(separator: "; ")))"
                throw IronicError(
                    status: 500, code: "ConsoleError", message: "Failed to start the console through \(proxy.absoluteString): \(error)\(before)")
            }
            let settled = try await waitUntilServing(record, client: client(proxy))
            if settled.state == .error {
                _ = try? await client(proxy).delete(settled.id)
                throw IronicError(
                    status: 500, code: "ConsoleError",
                    message: "The console proxy could not open serial-over-LAN: \(settled.lastError ?? "unknown error")")
            }
            task.updateNode { node in
                node.driverInternalInfo["ipmi_proxy_url"] = .string(proxy.absoluteString)
                // The endpoints as serving: a proxy that found a port taken meanwhile moved them.
                node.driverInternalInfo["ipmi_proxy_console_id"] = .string(settled.id)
                node.driverInternalInfo["ipmi_proxy_tcp_url"] = .string(settled.endpoints.tcp)
                node.driverInternalInfo["ipmi_proxy_page_url"] = .string(settled.endpoints.page)
            }
            return
        }
    }

    /// The node's running console on `proxy`, or a new one there: on TCP port `port` when it
    /// is given and free, else on new ports.
    private func createOrReuse(on proxy: URL, _ request: ConsoleRequest, port: Int?) async throws(ConsoleProxyError) -> ConsoleRecord {
        let client = client(proxy)
        let consoles = try await client.list(nodeUUID: request.nodeUUID)
        if let existing = consoles.first, existing.state != .error { return existing }
        for stale in consoles { try await client.delete(stale.id) }
        var request = request
        request.options.tcpPort = port
        do { return try await client.create(request) } catch where error.status == 409 && port != nil {
            request.options.tcpPort = nil  // the old port is taken: new ones
            return try await client.create(request)
        }
    }

    private func client(_ proxy: URL) -> ConsoleProxyClient {
        ConsoleProxyClient(baseURL: proxy, credentials: settings.credentials)
    }

    /// Waits (bounded by `consoleStartTimeout`) until the proxy serves the console or gives up;
    /// a console still starting after that is left to the proxy's own retries.
    private func waitUntilServing(_ record: ConsoleRecord, client: ConsoleProxyClient) async throws -> ConsoleRecord {
        let deadline = ContinuousClock.now + Self.consoleStartTimeout
        var latest = record
        while latest.state != .running && latest.state != .error && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            latest = (try? await client.get(record.id)) ?? latest
        }
        return latest
    }

    /// How long starting a console waits for serial-over-LAN before answering.
    static let consoleStartTimeout: Duration = .seconds(60)

    /// Stops the console on its proxy (a console already gone is fine).
    public func stopConsole(_ task: NodeTask) async throws {
        if let (client, id) = placement(task.node) {
            do { try await client.delete(id) } catch where error.isUnreachable {
                task.logger.warning("console proxy unreachable while stopping the console: \(error)")
            } catch {
                throw IronicError(status: 500, code: "ConsoleError", message: "Failed to stop the console: \(error)")
            }
        }
        task.updateNode { node in
            for key in ["ipmi_proxy_url", "ipmi_proxy_console_id", "ipmi_proxy_page_url"] { node.driverInternalInfo[key] = nil }
        }
    }

    /// `{"type": "socat", "url": "tcp://host:port"}` from the node's record: no BMC, no proxy call.
    public func consoleInfo(_ task: NodeTask) async throws -> ConsoleInfo {
        guard let url = task.node.driverInternalInfo["ipmi_proxy_tcp_url"]?.stringValue else {
            throw IronicError(status: 500, code: "ConsoleError", message: "The node has no console endpoint recorded; disable and enable the console.")
        }
        return ConsoleInfo(type: "socat", url: url)
    }

    /// Whether the proxy still runs this node's console (not after a proxy restart), and on
    /// the TCP endpoint the node records. A proxy that does not answer counts as not running
    /// when another proxy is configured (the console moves there); with a single proxy there
    /// is nowhere else to go, and the check fails until it answers.
    public func consoleState(_ task: NodeTask) async throws -> ExternalConsoleState {
        guard let (client, id) = placement(task.node) else { return .notRunning }
        let answer = await Self.lookUp(id, on: client)
        if case .failure(let error) = answer, error.isUnreachable, settings.hasAlternatives { return .notRunning }
        guard let record = try answer.get(), record.state != .error else { return .notRunning }
        let recorded = task.node.driverInternalInfo["ipmi_proxy_tcp_url"]?.stringValue
        return record.endpoints.tcp == recorded ? .running : .moved(record.endpoints.tcp)
    }

    /// The consoles every configured proxy runs (the local proxy of `ironic standalone` when
    /// none is configured).
    public func runningConsoles(logger: Logger) async -> [ExternalConsole] {
        var found: [ExternalConsole] = []
        for proxy in await settings.allProxies() {
            do {
                let records = try await client(proxy).list()
                found += records.map { ExternalConsole(nodeUUID: $0.nodeUUID, id: $0.id, location: proxy.absoluteString) }
            } catch {
                logger.warning("cannot list the consoles of a console proxy: \(error)", metadata: ["proxy": "\(proxy.absoluteString)"])
            }
        }
        return found
    }

    /// Whether the node's console is enabled and its record names `console` (proxy and id).
    public func isWanted(_ console: ExternalConsole, by node: Node) -> Bool {
        node.consoleEnabled && node.driverInternalInfo["ipmi_proxy_url"]?.stringValue == console.location
            && node.driverInternalInfo["ipmi_proxy_console_id"]?.stringValue == console.id
    }

    /// Deletes `console` on its proxy.
    public func stop(_ console: ExternalConsole) async throws {
        guard let proxy = URL(string: console.location) else { return }
        do { try await client(proxy).delete(console.id) } catch {
            throw IronicError(status: 500, code: "ConsoleError", message: "Failed to stop console \(console.id) on \(console.location): \(error)")
        }
    }

    private static func lookUp(_ id: String, on client: ConsoleProxyClient) async -> Result<ConsoleRecord?, ConsoleProxyError> {
        do { return .success(try await client.get(id)) } catch { return .failure(error) }
    }

    /// The console log kept by the proxy.
    public func consoleLog(_ task: NodeTask) async throws -> [UInt8] {
        guard let (client, id) = placement(task.node) else {
            throw IronicError(status: 400, code: "NodeConsoleNotEnabled", message: "Console access is not enabled on node \(task.node.uuid)")
        }
        do { return try await client.log(id) } catch {
            throw IronicError(status: error.status == 409 ? 409 : 503, code: "ConsoleError", message: "\(error.message)")
        }
    }

    private func placement(_ node: Node) -> (ConsoleProxyClient, String)? {
        guard let url = node.driverInternalInfo["ipmi_proxy_url"]?.stringValue.flatMap(URL.init(string:)),
            let id = node.driverInternalInfo["ipmi_proxy_console_id"]?.stringValue
        else { return nil }
        return (client(url), id)
    }

    private func consoleOptions(_ node: Node) throws(IronicError) -> ConsoleOptions {
        let info = node.driverInfo
        let log = try IPMIDriverInfo.flag(info["ipmi_console_log"], key: "ipmi_console_log") ?? true
        var size: Int?
        if let value = info["ipmi_console_log_size"] {
            guard let number = IPMIDriverInfo.integer(value), number >= 1024 else {
                throw .invalidParameterValue("ipmi_console_log_size must be an integer of at least 1024, not \(IPMIDriverInfo.display(value)).")
            }
            size = number
        }
        return ConsoleOptions(log: log, logSize: size)
    }
}
