import Core

/// `noop` storage: the node boots from its own disks and attaches no volumes.
///
/// Unlike the `no-*` interfaces it validates, because "no volumes" is a working configuration
/// (it is the generic default), not a missing feature.
public struct NoopStorage: StorageInterface {
    /// `noop`.
    public var name: String { "noop" }

    /// Creates the implementation.
    public init() {}
}
