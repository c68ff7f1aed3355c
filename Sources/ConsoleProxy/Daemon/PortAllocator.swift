import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Hands out console endpoint ports from `[ipmiproxy] port_range`, skipping ports in use by
/// this proxy and ports some other process holds (checked with a bind).
final class PortAllocator: Sendable {
    private let range: ClosedRange<Int>
    private let host: String
    private let used = Mutex<(ports: Set<Int>, next: Int)>(([], 0))

    init(range: ClosedRange<Int>, host: String) {
        self.range = range
        self.host = host
        used.withLock { $0.next = range.lowerBound }
    }

    /// Reserves `preferred` (when free and in range) or the next free port.
    ///
    /// - Throws: `ProxyError` 409 when `preferred` is taken, 400 when out of range, 503 when the range is exhausted.
    func allocate(preferred: Int? = nil) throws(ProxyError) -> Int {
        if let preferred {
            guard range.contains(preferred) else {
                throw .badRequest("tcp_port \(preferred) is outside the proxy's port_range \(range.lowerBound):\(range.upperBound).")
            }
            let reserved = used.withLock { state in
                guard !state.ports.contains(preferred), Self.isFree(preferred, host: host) else { return false }
                state.ports.insert(preferred)
                return true
            }
            guard reserved else { throw .conflict("Port \(preferred) is already in use.") }
            return preferred
        }
        let found: Int? = used.withLock { state in
            for _ in 0..<range.count {
                let candidate = state.next
                state.next = candidate >= range.upperBound ? range.lowerBound : candidate + 1
                if !state.ports.contains(candidate), Self.isFree(candidate, host: host) {
                    state.ports.insert(candidate)
                    return candidate
                }
            }
            return nil
        }
        guard let found else { throw .unavailable("No free port left in port_range \(range.lowerBound):\(range.upperBound).") }
        return found
    }

    /// Returns ports to the pool.
    func release(_ ports: [Int]) {
        used.withLock { state in
            for port in ports { state.ports.remove(port) }
        }
    }

    /// Whether a TCP bind on `host:port` succeeds now.
    static func isFree(_ port: Int, host: String) -> Bool {
        guard (1...65535).contains(port) else { return false }  // a range set in code, not read from a file
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else { return true }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
