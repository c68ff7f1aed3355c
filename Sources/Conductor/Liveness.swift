import Core
import Foundation
import Synchronization

/// Whether this conductor may take new work: only while its heartbeat reaches the database.
///
/// Other conductors consider a conductor dead once its heartbeat is older than
/// `heartbeat_timeout` and take its nodes over; a conductor that cannot write its heartbeat
/// must therefore stop locking nodes before that happens, or two conductors would act on the
/// same node. It stops one heartbeat interval early, to leave a margin.
final class Liveness: Sendable {
    private let lastHeartbeat = Mutex<ContinuousClock.Instant>(.now)
    private let margin: Duration

    /// `heartbeatTimeout - heartbeatInterval` (at least one interval) is how long a conductor
    /// keeps working without a successful heartbeat.
    init(heartbeatInterval: Duration, heartbeatTimeout: Duration) {
        margin = max(heartbeatTimeout - heartbeatInterval, heartbeatInterval)
    }

    /// Records a heartbeat written now.
    func heartbeatWritten() {
        lastHeartbeat.withLock { $0 = .now }
    }

    /// Moves the last heartbeat `duration` into the past, as if no heartbeat had been written
    /// for that long; lets tests cross the margin without sleeping through it.
    func backdate(by duration: Duration) {
        lastHeartbeat.withLock { $0 -= duration }
    }

    /// Whether the last written heartbeat is recent enough to take new work.
    var acceptsWork: Bool {
        ContinuousClock.now - lastHeartbeat.withLock { $0 } < margin
    }

    /// The error new work gets while `acceptsWork` is false.
    func refusal(_ hostname: String) -> IronicError {
        IronicError(
            status: 503, code: "TemporaryFailure",
            message: "Conductor \(hostname) cannot write its heartbeat to the database and takes no new work; its nodes move to other conductors. Retry in a moment.")
    }
}
