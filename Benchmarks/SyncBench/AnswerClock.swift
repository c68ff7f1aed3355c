import IPMI
import Synchronization

/// The service's BMC client with a stopwatch on it: records when each Get Chassis Status
/// answered, so a pass with a frozen BMC shows when the other nodes were done, apart from how
/// long the pass waited for the frozen one.
///
/// Every call goes straight to the wrapped client (`ForwardingBMCClient`); recording is one clock read and one
/// append under a lock per answer.
final class AnswerClock: ForwardingBMCClient {
    let forwardedClient: any BMCClient
    private let answers = Mutex<[ContinuousClock.Instant]>([])

    init(_ client: any BMCClient) {
        self.forwardedClient = client
    }

    /// Forgets the answers recorded so far.
    func reset() { answers.withLock { $0.removeAll(keepingCapacity: true) } }

    /// How many Get Chassis Status calls answered since `reset()`, and when the last did.
    func snapshot() -> (count: Int, last: ContinuousClock.Instant?) {
        answers.withLock { ($0.count, $0.max()) }
    }

    func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus {
        let status = try await forwardedClient.chassisStatus(options)
        let now = ContinuousClock.now
        answers.withLock { $0.append(now) }
        return status
    }
}
