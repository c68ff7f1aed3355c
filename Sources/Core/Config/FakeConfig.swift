import Foundation

/// A delay for the `fake` interfaces: a fixed time, or a random time in a range, as Ironic's
/// `[fake] *_delay` options write it (`"2"` or `"1:5"`, in seconds).
public struct FakeDelay: Sendable, Hashable {
    public var shortest: Duration
    public var longest: Duration

    /// No delay.
    public static let none = FakeDelay(shortest: .zero, longest: .zero)

    /// A delay between `shortest` and `longest`.
    public init(shortest: Duration, longest: Duration) {
        self.shortest = shortest
        self.longest = max(shortest, longest)
    }

    /// Parses `"N"` or `"MIN:MAX"` (seconds, fractions allowed).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), let first = parts[0], let last = parts[parts.count - 1], first >= 0, last >= first else {
            return nil
        }
        self.init(shortest: .milliseconds(Int64(first * 1000)), longest: .milliseconds(Int64(last * 1000)))
    }

    /// Sleeps for the delay (a random time in the range); returns at once for `none`.
    public func wait() async throws {
        guard longest > .zero else { return }
        let spread = (longest - shortest).components
        let spreadMilliseconds = spread.seconds * 1000 + spread.attoseconds / 1_000_000_000_000_000
        try await Task.sleep(for: shortest + .milliseconds(Int64.random(in: 0...max(0, spreadMilliseconds))))
    }
}

/// `[fake]`: delays that make the `fake` interfaces behave like slow hardware, for tests and
/// demonstrations (Ironic's option names).
public struct FakeConfig: Sendable, Hashable {
    /// `power_delay`: every power read and change.
    public var power = FakeDelay.none
    /// `deploy_delay`: deploying and tearing down.
    public var deploy = FakeDelay.none

    /// No delays.
    public init() {}
}

extension IronicConfig {
    mutating func readFakeOptions(_ reader: OptionReader) throws(ConfigError) {
        func delay(_ key: String) throws(ConfigError) -> FakeDelay? {
            guard let raw = try reader.string("fake", key) else { return nil }
            guard let delay = FakeDelay(parsing: raw) else {
                throw ConfigError(source: "[fake] \(key)", message: "expected seconds (\"2\") or a range (\"1:5\"), got '\(raw)'")
            }
            return delay
        }
        fake.power = try delay("power_delay") ?? fake.power
        fake.deploy = try delay("deploy_delay") ?? fake.deploy
    }
}
