import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a worker's events to its stdout, one JSON line each, whole lines only.
final class WorkerReporter: Sendable {
    private let lock = Mutex(())
    private let fd: Int32

    init(fd: Int32 = 1) { self.fd = fd }

    func send(_ event: WorkerEvent) {
        guard var data = try? JSONEncoder().encode(event) else { return }
        data.append(0x0A)
        lock.withLock { _ in
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // The supervisor is gone; stdin's end will stop us.
                    }
                    offset += written
                }
            }
        }
    }
}
