import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Another process's listener on a loopback port, for tests of what happens when a port a
/// component counts on is taken.
public final class PortSquatter: Sendable {
    /// The port held.
    public let port: Int
    private let descriptor: Int32

    /// Sends SIGKILL to `pid` (the process holding `port` now) and takes `port` the moment the
    /// dead process has let go of it, polling every 5 ms for up to `timeout`.
    public static func take(_ port: Int, afterKilling pid: Int32, timeout: Duration = .seconds(10)) async throws -> PortSquatter {
        guard kill(pid, SIGKILL) == 0 else { throw PortSquatterError("cannot kill \(pid): errno \(errno)") }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let descriptor = listen(on: port) { return PortSquatter(port: port, descriptor: descriptor) }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw PortSquatterError("port \(port) stayed busy for \(timeout) after process \(pid) was killed")
    }

    private init(port: Int, descriptor: Int32) {
        self.port = port
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// A listening socket on 127.0.0.1:`port`, or nil when the port is taken.
    private static func listen(on port: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, Glibc.listen(descriptor, 1) == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }
}

/// A port that could not be taken.
public struct PortSquatterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
