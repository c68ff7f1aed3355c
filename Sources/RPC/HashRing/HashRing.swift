/// A consistent hash ring over conductor hostnames: every host owns `2^partitionExponent`
/// points, and a key belongs to the host owning the first point at or after the key's hash.
/// Adding or removing a host moves only the keys next to its points, so a conductor joining
/// or dying reshuffles about `1/hosts` of the nodes.
///
/// The hash is FNV-1a (64 bits) finished with a SplitMix64 mix: stable across processes and
/// builds (unlike `Hasher`), which every API and conductor process needs to agree.
public struct HashRing: Sendable, Hashable {
    /// The hosts on the ring, sorted.
    public let hosts: [String]
    private let points: [UInt64]
    private let owners: [Int]

    /// Builds the ring; duplicate hosts count once.
    public init(hosts: some Sequence<String>, partitionExponent: Int = 5) {
        let sorted = Array(Set(hosts)).sorted()
        let replicas = 1 << max(0, min(partitionExponent, 16))
        var entries: [(point: UInt64, owner: Int)] = []
        entries.reserveCapacity(sorted.count * replicas)
        for (index, host) in sorted.enumerated() {
            for replica in 0..<replicas {
                entries.append((Self.hash("\(host)-\(replica)"), index))
            }
        }
        // Ties (astronomically rare) go to the smaller host name, deterministically.
        entries.sort { $0.point != $1.point ? $0.point < $1.point : $0.owner < $1.owner }
        self.hosts = sorted
        self.points = entries.map(\.point)
        self.owners = entries.map(\.owner)
    }

    /// Whether no host is on the ring.
    public var isEmpty: Bool { hosts.isEmpty }

    /// The host `key` belongs to, or nil on an empty ring.
    public func host(for key: String) -> String? {
        guard !points.isEmpty else { return nil }
        let hash = Self.hash(key)
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle] < hash { low = middle + 1 } else { high = middle }
        }
        return hosts[owners[low == points.count ? 0 : low]]
    }

    /// FNV-1a 64 over the UTF-8 bytes, then SplitMix64's finaliser to spread nearby keys.
    static func hash(_ text: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        return value ^ (value >> 31)
    }
}
