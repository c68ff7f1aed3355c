/// A console log: the last `capacity` bytes of serial output, oldest first.
///
/// A fixed-size ring: appending never allocates once full, so a chatty console costs the same
/// memory as a quiet one.
public struct ConsoleLog: Sendable, Hashable {
    /// Most bytes kept.
    public let capacity: Int
    private var storage: [UInt8]
    private var start = 0
    /// Bytes ever appended (kept or not).
    public private(set) var totalBytes = 0

    /// An empty log of `capacity` bytes (at least 1).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = []
        storage.reserveCapacity(min(self.capacity, 64 * 1024))
    }

    /// Bytes kept now.
    public var count: Int { storage.count }

    /// Appends `bytes`, dropping the oldest beyond `capacity`.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        totalBytes += bytes.count
        var incoming = ArraySlice(bytes)
        if incoming.count >= capacity {
            storage = Array(incoming.suffix(capacity))
            start = 0
            return
        }
        if storage.count < capacity {
            let room = capacity - storage.count
            storage.append(contentsOf: incoming.prefix(room))
            incoming = incoming.dropFirst(room)
        }
        for byte in incoming {
            storage[start] = byte
            start = (start + 1) % capacity
        }
    }

    /// The kept bytes, oldest first.
    public var contents: [UInt8] {
        guard storage.count == capacity, start > 0 else { return storage }
        return Array(storage[start...] + storage[..<start])
    }

    /// The newest `limit` kept bytes.
    public func tail(_ limit: Int) -> [UInt8] {
        let all = contents
        return Array(all.suffix(max(0, limit)))
    }
}
