/// A BMC client that hands every call to another one: wrappers (a client built on first use,
/// a stopwatch for benchmarks) implement only what they change.
public protocol ForwardingBMCClient: BMCClient {
    /// The client every call goes to.
    var forwardedClient: any BMCClient { get }
}

extension ForwardingBMCClient {
    public func chassisStatus(_ options: BMCSessionOptions) async throws -> ChassisStatus {
        try await forwardedClient.chassisStatus(options)
    }

    public func chassisControl(_ action: ChassisControl, _ options: BMCSessionOptions) async throws {
        try await forwardedClient.chassisControl(action, options)
    }

    public func setBootDevice(_ device: BootDeviceSelector, persistent: Bool, efi: Bool, _ options: BMCSessionOptions) async throws {
        try await forwardedClient.setBootDevice(device, persistent: persistent, efi: efi, options)
    }

    public func bootFlags(_ options: BMCSessionOptions) async throws -> BootFlags {
        try await forwardedClient.bootFlags(options)
    }

    public func resetBMC(warm: Bool, _ options: BMCSessionOptions) async throws {
        try await forwardedClient.resetBMC(warm: warm, options)
    }

    public func deviceID(_ options: BMCSessionOptions) async throws -> DeviceID {
        try await forwardedClient.deviceID(options)
    }

    public func readSEL(after recordID: UInt16?, _ options: BMCSessionOptions) async throws -> [SELRecord] {
        try await forwardedClient.readSEL(after: recordID, options)
    }

    public func clearSEL(_ options: BMCSessionOptions) async throws {
        try await forwardedClient.clearSEL(options)
    }

    public func sensors(_ options: BMCSessionOptions) async throws -> [SensorReading] {
        try await forwardedClient.sensors(options)
    }

    public func disableBootFlagTimeout(_ options: BMCSessionOptions) async throws {
        try await forwardedClient.disableBootFlagTimeout(options)
    }
}
