import CFreeIPMI
import Logging

/// A `BMCClient` over libfreeipmi's out-of-band (LAN and LAN+) sessions.
///
/// ```swift
/// let client = FreeIPMIClient(threads: 16, minimumCommandInterval: .seconds(1), retryTimeout: .seconds(60), logger: logger)
/// let options = BMCSessionOptions(host: "10.0.0.5", username: "admin", password: "secret", workarounds: ["opensesspriv"])
/// if try await client.chassisStatus(options).powerOn == false {
///     try await client.chassisControl(.powerOn, options)
/// }
/// ```
///
/// Each operation opens a session, runs its commands and closes it, as Ironic's ipmitool
/// driver does: nothing is held open between operations, so a BMC's few session slots stay
/// free for other tools.
///
/// Threading contract:
/// - Every libfreeipmi call runs on the client's own pool of `threads` OS threads, never on the
///   Swift cooperative pool. Calls beyond `threads` wait in a queue, not on a thread.
/// - Per BMC (`host:port`), at most one operation runs at a time, and at least
///   `minimumCommandInterval` separates the end of one from the start of the next. Waiting for
///   a BMC costs no thread, and different BMCs never wait for each other.
/// - An operation that fails with `.busy` or `.timeout` is retried, after pauses of 0.5 s
///   doubling up to 4 s, until `retryTimeout` has elapsed since it started; later attempts get
///   a session timeout cut to what is left of that budget, so a dead BMC costs about
///   `max(retryTimeout, sessionTimeout)`. Then the last error is thrown. Other errors
///   (authentication, invalid request, completion codes) are thrown at once. Operations
///   that are not idempotent (power cycle, hard reset, diagnostic interrupt, soft shutdown, BMC
///   reset) are retried after a timeout only if the session never opened, since the BMC may
///   have acted on a command whose answer was lost.
/// - Cancelling the calling task stops waiting for the BMC's turn and between retries; a
///   libfreeipmi call already running is not interrupted (it ends within the session timeout).
///
/// The threads are stopped when the client is deallocated.
public final class FreeIPMIClient: BMCClient {
    private let pool: BlockingThreadPool
    private let gate: BMCGate
    private let retryTimeout: Duration
    private let logger: Logger

    /// FreeIPMI initialises libgcrypt lazily in the first IPMI 2.0 session open, which its
    /// documentation says must happen before threads use it: done once per process (a static
    /// `let` initialiser runs exactly once, even with clients created concurrently), before any
    /// pool thread exists.
    private static let initializeCrypto: Void = { _ = ipmi_rmcpplus_init() }()

    /// Pause before the first retry; doubled per attempt up to `maximumRetryPause`.
    static let firstRetryPause: Duration = .milliseconds(500)
    /// The longest pause between attempts.
    static let maximumRetryPause: Duration = .seconds(4)

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - threads: OS threads for blocking libfreeipmi calls (at least 1): the number of BMCs
    ///     that can be talked to at the same moment.
    ///   - minimumCommandInterval: The least time between the end of one operation and the start
    ///     of the next on the same BMC (Ironic's `[ipmi]min_command_interval`).
    ///   - retryTimeout: How long an operation keeps retrying busy or timed-out BMCs (Ironic's
    ///     `[ipmi]command_retry_timeout`); zero means a single attempt.
    ///   - logger: Receives a debug line per operation and a warning per retry.
    public init(threads: Int, minimumCommandInterval: Duration, retryTimeout: Duration, logger: Logger) {
        Self.initializeCrypto
        self.pool = BlockingThreadPool(threads: threads, name: "FreeIPMI")
        self.gate = BMCGate(minimumInterval: minimumCommandInterval)
        self.retryTimeout = max(retryTimeout, .zero)
        self.logger = logger
    }

    deinit { pool.shutdown() }

    /// Number of threads in the blocking pool.
    public var threadCount: Int { pool.threadCount }

    // MARK: - Workarounds

    /// The names in `names` that FreeIPMI does not know (sorted, lowercased), for a driver's
    /// `validate`. Names that belong to other FreeIPMI tools (console, `ipmi-config`) are known
    /// and accepted. Entries may hold several comma-separated names.
    public static func validateWorkarounds(_ names: Set<String>) -> [String] {
        Set(FreeIPMIWorkaround.names(in: names).filter { FreeIPMIWorkaround.named($0) == nil }).sorted()
    }

    /// Every workaround name accepted in `BMCSessionOptions.workarounds`, sorted.
    public static var knownWorkarounds: [String] { FreeIPMIWorkaround.all.map(\.name) }

    // MARK: - BMCClient

    /// Get Chassis Status: power state and power faults.
    public func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus {
        try await perform("chassis status", options) { session throws(IPMIError) in
            try IPMIMessages.chassisStatus(
                session.command(IPMIMessages.NetFunction.chassis, IPMIMessages.Command.getChassisStatus))
        }
    }

    /// Chassis Control. Power on and off are retried on timeouts; the other actions only when
    /// the session never opened.
    public func chassisControl(_ action: ChassisControl, _ options: BMCSessionOptions) async throws {
        let idempotent = action == .powerOn || action == .powerOff
        try await perform("chassis control \(action)", options, idempotent: idempotent) { session throws(IPMIError) in
            _ = try session.command(
                IPMIMessages.NetFunction.chassis, IPMIMessages.Command.chassisControl, [IPMIMessages.chassisControl(action)])
        }
    }

    /// Set System Boot Options, boot flags parameter: `device`, valid bit set, `persistent`
    /// for all future boots or the next boot only, EFI or legacy BIOS boot type.
    public func setBootDevice(_ device: BootDeviceSelector, persistent: Bool, efi: Bool, _ options: BMCSessionOptions) async throws {
        try await perform("set boot device \(device.rawValue)", options) { session throws(IPMIError) in
            _ = try session.command(
                IPMIMessages.NetFunction.chassis, IPMIMessages.Command.setSystemBootOptions,
                IPMIMessages.setBootFlags(device, persistent: persistent, efi: efi))
        }
    }

    /// Set System Boot Options parameter 3 (boot flag valid bit clearing) with bit 3 set: the
    /// BMC keeps the boot flags instead of clearing them 60 seconds after they were set.
    public func disableBootFlagTimeout(_ options: BMCSessionOptions) async throws {
        try await perform("disable boot flag timeout", options) { session throws(IPMIError) in
            _ = try session.command(IPMIMessages.NetFunction.chassis, IPMIMessages.Command.setSystemBootOptions, [0x03, 0x08])
        }
    }

    /// Get System Boot Options, boot flags parameter. The device is reported even when the BMC
    /// leaves the flags' valid bit clear (as ipmitool does; ipmi_sim never sets it).
    public func bootFlags(_ options: BMCSessionOptions) async throws -> BootFlags {
        try await perform("get boot device", options) { session throws(IPMIError) in
            try IPMIMessages.bootFlags(
                session.command(
                    IPMIMessages.NetFunction.chassis, IPMIMessages.Command.getSystemBootOptions, IPMIMessages.getBootFlagsRequest))
        }
    }

    /// BMC Warm Reset or Cold Reset. Not retried after a timeout once the session is open: a
    /// resetting BMC often never answers. A BMC that does not implement the command answers
    /// `.invalidRequest` with completion code 0xC1.
    public func resetBMC(warm: Bool, _ options: BMCSessionOptions) async throws {
        let command = warm ? IPMIMessages.Command.warmReset : IPMIMessages.Command.coldReset
        try await perform(warm ? "BMC warm reset" : "BMC cold reset", options, idempotent: false) { session throws(IPMIError) in
            _ = try session.command(IPMIMessages.NetFunction.application, command)
        }
    }

    /// Get Device ID.
    public func deviceID(_ options: BMCSessionOptions) async throws -> DeviceID {
        try await perform("device ID", options) { session throws(IPMIError) in
            try IPMIMessages.deviceID(session.command(IPMIMessages.NetFunction.application, IPMIMessages.Command.getDeviceID))
        }
    }

    /// SEL records with an ID after `recordID` (all when nil), oldest first, in one session.
    ///
    /// When `recordID` is still in the log, reading continues from its successor; when it is
    /// gone (the log was cleared), records with a larger ID are returned. `description` is
    /// FreeIPMI's interpretation ("Temperature CPU Temp: Upper Critical - going high
    /// (Assertion Event)"-like; sensor names are not resolved) or a hex summary.
    public func readSEL(after recordID: UInt16?, _ options: BMCSessionOptions) async throws -> [SELRecord] {
        try await perform("read SEL", options) { session throws(IPMIError) in
            let entries = try session.selRecords(after: recordID)
            guard let selContext = ipmi_sel_ctx_create(nil, nil) else {
                return entries.map { entry in
                    var record = entry.record
                    record.description = IPMIMessages.hexSummary(record, raw: entry.raw)
                    return record
                }
            }
            defer { ipmi_sel_ctx_destroy(selContext) }
            if session.workarounds.sel != 0 { ipmi_sel_ctx_set_flags(selContext, session.workarounds.sel) }
            return entries.map { entry in
                var record = entry.record
                // FreeIPMI reads system events well; its OEM output without OEM tables is empty.
                let interpreted = record.sensorType != nil ? FreeIPMISession.describe(entry.raw, selContext: selContext) : nil
                record.description = interpreted ?? IPMIMessages.hexSummary(record, raw: entry.raw)
                return record
            }
        }
    }

    /// Clear SEL (with a reservation), waiting for the erasure to complete.
    public func clearSEL(_ options: BMCSessionOptions) async throws {
        try await perform("clear SEL", options) { session throws(IPMIError) in try session.clearSEL() }
    }

    /// Readings of every sensor in the SDR repository, in repository order.
    ///
    /// Sensors that cannot be read are included with a nil value and the reason as `state`;
    /// `state` is otherwise FreeIPMI's event message for the reading ("OK" when nothing is
    /// asserted). The `ignorescanningdisabled`, `discretereading` and `assumebmcowner`
    /// workarounds apply here.
    public func sensors(_ options: BMCSessionOptions) async throws -> [SensorReading] {
        try await perform("sensors", options) { session throws(IPMIError) in try session.sensorReadings() }
    }

    // MARK: - Operation plumbing

    /// Where an attempt failed: before or after the session was established.
    private struct AttemptFailure: Error {
        let error: IPMIError
        let sessionOpened: Bool
    }

    /// Runs `body` in a fresh session to `options`' BMC, paced by the gate, on the pool, with
    /// retries of transient failures.
    private func perform<T: Sendable>(
        _ operation: String, _ options: BMCSessionOptions, idempotent: Bool = true,
        _ body: @escaping @Sendable (FreeIPMISession) throws(IPMIError) -> T
    ) async throws -> T {
        let workarounds = try ResolvedWorkarounds(options.workarounds)
        try FreeIPMISession.validate(options)
        let key = options.host.lowercased() + ":" + String(options.port)
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started.advanced(by: retryTimeout)
        var attempt = 0
        var pause = Self.firstRetryPause
        // A retry shorter than this could not even complete a session handshake.
        let shortestAttempt = max(options.retransmissionTimeout, .milliseconds(200))
        while true {
            attempt += 1
            // Later attempts get no more than what is left of the retry budget.
            let timeout = attempt == 1 ? options.sessionTimeout : min(options.sessionTimeout, max(deadline - clock.now, shortestAttempt))
            do {
                let result = try await gate.withLane(key) { [pool] in
                    try await pool.run { () throws -> T in
                        let session: FreeIPMISession
                        do throws(IPMIError) {
                            session = try FreeIPMISession.open(options, workarounds: workarounds, sessionTimeout: timeout)
                        } catch {
                            throw AttemptFailure(error: error, sessionOpened: false)
                        }
                        do throws(IPMIError) {
                            return try body(session)
                        } catch {
                            throw AttemptFailure(error: error, sessionOpened: true)
                        }
                    }
                }
                logger.debug(
                    "IPMI operation done",
                    metadata: [
                        "operation": "\(operation)", "bmc": "\(options.endpoint)", "attempts": "\(attempt)",
                        "duration": "\(clock.now - started)",
                    ])
                return result
            } catch let failure as AttemptFailure {
                let error = failure.error
                let retryable = error.kind == .busy || (error.kind == .timeout && (idempotent || !failure.sessionOpened))
                let remaining = deadline - clock.now
                guard retryable, remaining >= shortestAttempt else {
                    logger.debug(
                        "IPMI operation failed",
                        metadata: [
                            "operation": "\(operation)", "bmc": "\(options.endpoint)", "attempts": "\(attempt)",
                            "error": "\(error)",
                        ])
                    throw error
                }
                let wait = min(pause, remaining - shortestAttempt)
                logger.warning(
                    "IPMI operation failed, retrying",
                    metadata: [
                        "operation": "\(operation)", "bmc": "\(options.endpoint)", "attempt": "\(attempt)",
                        "error": "\(error)", "pause": "\(wait)",
                    ])
                try await Task.sleep(for: wait, clock: clock)
                pause = min(pause * 2, Self.maximumRetryPause)
            }
        }
    }
}
