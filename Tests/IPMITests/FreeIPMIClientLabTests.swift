import Foundation
import Lab
import Logging
import Testing

@testable import IPMI

/// A lab of `count` ipmi_sim servers in a fresh directory, stopped when `body` ends.
func withLab<T>(count: Int = 1, _ body: (Lab) async throws -> T) async throws -> T {
    try await Lab.withTemporaryLab(count: count, body)
}

/// Session options for a lab server, with the lab's own workaround list (console names
/// included: the client must accept and ignore them).
func sessionOptions(_ lab: Lab, _ server: SimulatedServer, sessionTimeout: Duration = .seconds(2)) -> BMCSessionOptions {
    let info = lab.driverInfo(for: server)
    let workarounds = Set((info["ipmi_workarounds"] ?? "").split(separator: ",").map(String.init))
    return BMCSessionOptions(
        host: info["ipmi_address"] ?? "127.0.0.1", port: server.bmcPort, username: lab.username, password: lab.password,
        workarounds: workarounds, sessionTimeout: sessionTimeout, retransmissionTimeout: .milliseconds(250))
}

func makeClient(threads: Int = 4, interval: Duration = .milliseconds(20), retryTimeout: Duration = .zero) -> FreeIPMIClient {
    FreeIPMIClient(threads: threads, minimumCommandInterval: interval, retryTimeout: retryTimeout, logger: Logger(label: "IPMITests"))
}

/// A loopback UDP port nobody listens on (bound, read, released).
func unusedUDPPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard descriptor >= 0 else { throw IPMIError(kind: .other, message: "socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
        }
    }
    guard bound else { throw IPMIError(kind: .other, message: "bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite("FreeIPMIClient against ipmi_sim", .timeLimit(.minutes(2)))
struct FreeIPMIClientLabTests {
    @Test("Chassis control is reflected in the simulated server and in Get Chassis Status")
    func chassisControl() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient()
            let options = sessionOptions(lab, server)

            try await client.chassisControl(.powerOn, options)
            #expect(server.powerOn)
            #expect(try await client.chassisStatus(options) == ChassisStatus(powerOn: true, powerFault: false))

            try await client.chassisControl(.powerOff, options)
            #expect(!server.powerOn)
            #expect(try await client.chassisStatus(options).powerOn == false)

            // ipmi_sim powers back on about a second after the power-off of a cycle.
            try await client.chassisControl(.powerOn, options)
            try await client.chassisControl(.powerCycle, options)
            let cycled = ContinuousClock.now
            while !server.powerOn, ContinuousClock.now - cycled < .seconds(5) { try await Task.sleep(for: .milliseconds(100)) }
            #expect(server.powerOn)
            let boots = server.bootCount
            try await client.chassisControl(.hardReset, options)
            #expect(try await client.chassisStatus(options).powerOn)
            #expect(server.bootCount > boots)
            try await client.chassisControl(.softShutdown, options)

            // ipmi_sim has no diagnostic interrupt: it refuses the request, and says so clearly.
            let error = await #expect(throws: IPMIError.self) { try await client.chassisControl(.diagnosticInterrupt, options) }
            #expect(error?.kind == .invalidRequest)
            #expect(error?.code == .invalidDataField)
        }
    }

    @Test("Boot device: set and get round trip, persistent and one-time")
    func bootDevice() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient()
            let options = sessionOptions(lab, server)
            let cases: [(BootDeviceSelector, Bool, Bool, String)] = [
                (.pxe, true, true, "pxe"), (.disk, false, false, "disk"), (.cdrom, true, false, "cdrom"),
                (.bios, false, true, "bios"), (.pxe, false, false, "pxe"), (.noOverride, true, false, "none"),
            ]
            for (device, persistent, efi, simulated) in cases {
                try await client.setBootDevice(device, persistent: persistent, efi: efi, options)
                #expect(server.bootDevice == simulated, "\(device)")
                // ipmi_sim keeps only the device; the persistence and EFI bits it answers are
                // always clear, so only the device is compared.
                #expect(try await client.bootFlags(options).device == device)
            }
        }
    }

    @Test("Get Device ID reports the simulated BMC's identity")
    func deviceID() async throws {
        try await withLab { lab in
            let id = try await makeClient().deviceID(sessionOptions(lab, lab.servers[0]))
            #expect(id == DeviceID(deviceID: 0, firmwareMajor: 9, firmwareMinor: 8, manufacturerID: 0x1291, productID: 0x0F02))
        }
    }

    @Test("IPMI 1.5 sessions work too")
    func ipmi15() async throws {
        try await withLab { lab in
            var options = sessionOptions(lab, lab.servers[0])
            options.protocolVersion = .v1_5
            let client = makeClient()
            try await client.chassisControl(.powerOn, options)
            #expect(try await client.chassisStatus(options).powerOn)
        }
    }

    @Test("A wrong password is an authentication error, for IPMI 2.0 and 1.5", arguments: ProtocolVersion.allCases)
    func wrongPassword(_ version: ProtocolVersion) async throws {
        try await withLab { lab in
            var options = sessionOptions(lab, lab.servers[0], sessionTimeout: .seconds(1))
            options.password = "not-the-password"
            options.protocolVersion = version
            // Not retried even with a retry budget: credentials do not get better with time.
            let client = makeClient(retryTimeout: .seconds(30))
            let started = ContinuousClock.now
            let error = await #expect(throws: IPMIError.self) { try await client.chassisStatus(options) }
            #expect(error?.kind == .authentication)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("Without opensesspriv ipmi_sim refuses IPMI 2.0 sessions, and the message names the workaround")
    func missingWorkaround() async throws {
        try await withLab { lab in
            var options = sessionOptions(lab, lab.servers[0])
            options.workarounds = []
            let error = await #expect(throws: IPMIError.self) { try await makeClient().chassisStatus(options) }
            #expect(error?.kind == .authentication)
            #expect(error?.message.contains("opensesspriv") == true)
        }
    }

    @Test("Disabling the boot flag timeout reaches the BMC")
    func disableBootFlagTimeout() async throws {
        try await withLab { lab in
            let options = sessionOptions(lab, lab.servers[0])
            do {
                try await makeClient().disableBootFlagTimeout(options)
            } catch let error as IPMIError {
                // A BMC may refuse the parameter; it must still have answered.
                #expect(error.completionCode != nil, "\(error)")
            }
            _ = try await makeClient().chassisStatus(options)
        }
    }

    @Test("Nothing listening: a timeout within the session timeout")
    func unreachable() async throws {
        let port = try unusedUDPPort()
        let options = BMCSessionOptions(
            host: "127.0.0.1", port: port, username: "admin", password: "password", workarounds: ["opensesspriv"],
            sessionTimeout: .seconds(1), retransmissionTimeout: .milliseconds(250))
        let started = ContinuousClock.now
        let error = await #expect(throws: IPMIError.self) { try await makeClient().chassisStatus(options) }
        #expect(error?.kind == .timeout || error?.kind == .unreachable)
        // Bounded by the session timeout, not by FreeIPMI's defaults (generous for loaded machines).
        #expect(ContinuousClock.now - started < .seconds(6))
    }

    @Test("An unresolvable host name is unreachable")
    func badHostName() async {
        let options = BMCSessionOptions(host: "no-such-bmc.invalid", username: "admin", password: "password")
        let error = await #expect(throws: IPMIError.self) { try await makeClient().chassisStatus(options) }
        #expect(error?.kind == .unreachable)
    }

    @Test("A frozen BMC times out while another BMC keeps answering fast")
    func frozenBMC() async throws {
        try await withLab(count: 2) { lab in
            let frozen = lab.servers[0], healthy = lab.servers[1]
            let client = makeClient(interval: .milliseconds(50), retryTimeout: .zero)
            let frozenOptions = sessionOptions(lab, frozen, sessionTimeout: .seconds(6))
            let healthyOptions = sessionOptions(lab, healthy)
            _ = try await client.chassisStatus(healthyOptions)

            try frozen.freeze()
            defer { try? frozen.thaw() }
            let clock = ContinuousClock()
            let started = clock.now
            async let stuck: Duration = {
                await #expect(throws: IPMIError.self) {
                    do {
                        _ = try await client.chassisStatus(frozenOptions)
                    } catch let error as IPMIError {
                        #expect(error.kind == .timeout)
                        throw error
                    }
                }
                return clock.now - started
            }()
            // Queued behind the frozen one on the same BMC: must wait, and must not block others.
            async let queued: Void = {
                _ = try? await client.deviceID(frozenOptions)
            }()
            try await Task.sleep(for: .milliseconds(100))
            var slowest = Duration.zero
            var firstAnswered: Duration?
            for _ in 0..<10 {
                let call = clock.now
                #expect(try await client.chassisStatus(healthyOptions).powerOn == false)
                slowest = max(slowest, clock.now - call)
                firstAnswered = firstAnswered ?? clock.now - started
            }
            let stuckAfter = await stuck
            await queued
            // The healthy BMC answers while the frozen one is still stuck, and none of its calls
            // waits anywhere near the frozen one's session timeout.
            #expect(slowest < .seconds(3))
            #expect(try #require(firstAnswered) < stuckAfter)
            #expect(stuckAfter >= .seconds(6))
            #expect(stuckAfter < .seconds(20))
        }
    }

    @Test("Timeouts are retried: a BMC thawed within the retry budget answers")
    func retryAfterThaw() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient(retryTimeout: .seconds(15))
            let options = sessionOptions(lab, server, sessionTimeout: .seconds(1))
            try server.freeze()
            let thaw = Task {
                try await Task.sleep(for: .milliseconds(1500))
                try server.thaw()
            }
            let started = ContinuousClock.now
            let status = try await client.chassisStatus(options)
            try await thaw.value
            #expect(status.powerOn == false)
            #expect(ContinuousClock.now - started >= .seconds(1))
        }
    }

    @Test("Retries stop when the retry budget is spent, with the last error")
    func retryBudget() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient(retryTimeout: .seconds(3))
            let options = sessionOptions(lab, server, sessionTimeout: .seconds(1))
            try server.freeze()
            defer { try? server.thaw() }
            let started = ContinuousClock.now
            let error = await #expect(throws: IPMIError.self) { try await client.chassisStatus(options) }
            let elapsed = ContinuousClock.now - started
            #expect(error?.kind == .timeout)
            // The last attempt ends at the budget's end (give or take FreeIPMI's timer).
            #expect(elapsed >= .milliseconds(2700))
            #expect(elapsed < .seconds(10))
        }
    }

    @Test("Operations on one BMC are serialised and spaced by the minimum interval")
    func perBMCPacing() async throws {
        try await withLab { lab in
            let client = makeClient(interval: .milliseconds(200))
            let options = sessionOptions(lab, lab.servers[0])
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: ChassisStatus.self) { group in
                for _ in 0..<4 { group.addTask { try await client.chassisStatus(options) } }
                for try await status in group { #expect(!status.powerOn) }
            }
            // Four operations, three gaps of at least 200 ms between them.
            #expect(ContinuousClock.now - started >= .milliseconds(600))
        }
    }

    @Test("A SEL entry added to the BMC is read back, and `after:` skips what was seen")
    func sel() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient()
            let options = sessionOptions(lab, server)
            try await client.clearSEL(options)
            #expect(try await client.readSEL(after: nil, options).isEmpty)

            try await server.addSELEntry(sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, eventData: [0x59, 95, 90], assertion: true)
            let first = try await client.readSEL(after: nil, options)
            #expect(first.count == 1)
            let record = try #require(first.first)
            #expect(record.recordType == 0x02)
            #expect(record.sensorType == 0x01)
            #expect(record.sensorNumber == 0x01)
            #expect(record.eventType == 0x01)
            #expect(!record.deassertion)
            #expect(record.eventData == [0x59, 95, 90])
            #expect(record.timestamp != nil)
            #expect(record.description.contains("Temperature"), "\(record.description)")
            #expect(record.description.contains("Upper Critical"), "\(record.description)")

            try await server.addSELEntry(sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, eventData: [0x59], assertion: false)
            let later = try await client.readSEL(after: record.recordID, options)
            #expect(later.count == 1)
            #expect(later.first?.deassertion == true)
            #expect(later.first.map { $0.recordID != record.recordID } == true)
            #expect(try await client.readSEL(after: later[0].recordID, options).isEmpty)
            #expect(try await client.readSEL(after: nil, options).map(\.recordID) == [record.recordID, later[0].recordID])

            try await client.clearSEL(options)
            #expect(try await client.readSEL(after: nil, options).isEmpty)
            // A record ID that no longer exists: everything newer than it (nothing here).
            #expect(try await client.readSEL(after: record.recordID, options).isEmpty)
        }
    }

    @Test("Sensors include the lab's temperature sensor with its reading")
    func sensors() async throws {
        try await withLab { lab in
            let server = lab.servers[0]
            let client = makeClient()
            let options = sessionOptions(lab, server)
            let readings = try await client.sensors(options)
            let temperature = try #require(readings.first { $0.name == "CPU Temp" }, "\(readings)")
            #expect(temperature.type == "Temperature")
            #expect(temperature.unit == "C")
            #expect(temperature.value == 40)
            #expect(temperature.state == "OK")

            try await server.setTemperature(95, generateEvent: false)
            let hot = try #require(try await client.sensors(options).first { $0.name == "CPU Temp" })
            #expect(hot.value == 95)
            #expect(hot.state?.contains("Upper Critical") == true, "\(hot.state ?? "nil")")
        }
    }

    @Test("BMC resets: ipmi_sim does not implement them and answers 0xC1, reported as an invalid request")
    func bmcReset() async throws {
        try await withLab { lab in
            let client = makeClient(retryTimeout: .seconds(10))
            let options = sessionOptions(lab, lab.servers[0])
            for warm in [true, false] {
                let error = await #expect(throws: IPMIError.self) { try await client.resetBMC(warm: warm, options) }
                #expect(error?.kind == .invalidRequest)
                #expect(error?.code == .invalidCommand)
                #expect(error?.message.contains(warm ? "Warm Reset" : "Cold Reset") == true, "\(error?.message ?? "")")
            }
            // The BMC is still there.
            _ = try await client.deviceID(options)
        }
    }
}
