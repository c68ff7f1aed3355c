import Core

// The fake implementations with nothing to keep: every operation succeeds at once and every
// node validates, as Ironic's do, so a fake-hardware node walks the whole state machine.

/// `fake` boot: nothing to prepare.
public struct FakeBoot: BootInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}
}

/// `fake` deploy: the instance is "written" at once.
public struct FakeDeploy: DeployInterface {
    /// `fake`.
    public var name: String { "fake" }
    /// `[fake] deploy_delay`.
    let delay: FakeDelay

    /// Creates the implementation; deploy and tear down first wait `delay`.
    public init(delay: FakeDelay = .none) {
        self.delay = delay
    }

    /// Finishes at once, without a ramdisk call-back.
    public func deploy(_ task: NodeTask) async throws -> DriverStepResult {
        try await delay.wait()
        return .done
    }

    /// Does nothing; like Ironic's fake it leaves the power state alone.
    public func tearDown(_ task: NodeTask) async throws { try await delay.wait() }
}

/// `fake` inspection: finds nothing and finishes at once.
public struct FakeInspect: InspectInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}

    /// Finishes at once without touching the node's properties.
    public func inspectHardware(_ task: NodeTask) async throws -> DriverStepResult { .done }
}

/// `fake` rescue: enters and leaves rescue at once.
public struct FakeRescue: RescueInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}

    /// Finishes at once, without a ramdisk call-back.
    public func rescue(_ task: NodeTask) async throws -> DriverStepResult { .done }

    /// Does nothing.
    public func unrescue(_ task: NodeTask) async throws {}
}

/// `fake` RAID.
public struct FakeRAID: RAIDInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}
}

/// `fake` BIOS.
public struct FakeBIOS: BIOSInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}
}

/// `fake` storage.
public struct FakeStorage: StorageInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}
}

/// `fake` firmware.
public struct FakeFirmware: FirmwareInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}
}
