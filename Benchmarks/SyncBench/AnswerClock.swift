import IPMI
import Synchronization

/// The service's BMC client with a stopwatch on it: records when each Get Chassis Status
/// answered, so a pass with a frozen BMC shows when the other nodes were done, apart from how
/// long the pass waited for the frozen one.
///
/// Every call goes straight to the wrapped client; recording is one clock read and one
/// append under a lock per answer.
final class AnswerClock: BMCClient {
    private let client: any BMCClient
    private let answers = Mutex<[ContinuousClock.Instant]>([])

    init(_ client: any BMCClient) {
        self.client = client
    }

    /// Forgets the answers recorded so far.
    func reset() { answers.withLock { $0.removeAll(keepingCapacity: true) } }

    /// How many Get Chassis Status calls answered since `reset()`, and when the last did.
    func snapshot() -> (count: Int, last: ContinuousClock.Instant?) {
        answers.withLock { ($0.count, $0.max()) }
    }

    func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus {
        let status = try await client.chassisStatus(options)
        let now = ContinuousClock.now
        answers.withLock { $0.append(now) }
        return status
    }

    func chassisControl(_ action: ChassisControl, _ options: BMCSessionOptions) async throws {
        try await client.chassisControl(action, options)
    }

    func setBootDevice(_ device: BootDeviceSelector, persistent: Bool, efi: Bool, _ options: BMCSessionOptions) async throws {
        try await client.setBootDevice(device, persistent: persistent, efi: efi, options)
    }

    func bootFlags(_ options: BMCSessionOptions) async throws -> BootFlags {
        try await client.bootFlags(options)
    }

    func resetBMC(warm: Bool, _ options: BMCSessionOptions) async throws {
        try await client.resetBMC(warm: warm, options)
    }

    func deviceID(_ options: BMCSessionOptions) async throws -> DeviceID {
        try await client.deviceID(options)
    }

    func readSEL(after recordID: UInt16?, _ options: BMCSessionOptions) async throws -> [SELRecord] {
        try await client.readSEL(after: recordID, options)
    }

    func clearSEL(_ options: BMCSessionOptions) async throws {
        try await client.clearSEL(options)
    }

    func sensors(_ options: BMCSessionOptions) async throws -> [SensorReading] {
        try await client.sensors(options)
    }
}
