import CFreeIPMI
import Logging
import Testing

@testable import IPMI

@Suite("FreeIPMI workaround names")
struct WorkaroundTests {
    @Test("Every -W name of FreeIPMI's session path is known")
    func sessionNames() {
        let names = [
            "authcap", "nochecksumcheck", "idzero", "unexpectedauth", "forcepermsg", "endianseq", "noauthcodecheck",
            "intel20", "supermicro20", "sun20", "opensesspriv", "integritycheckvalue",
        ]
        for name in names { #expect(FreeIPMIWorkaround.named(name)?.scope == .session, "\(name)") }
        #expect(FreeIPMIClient.validateWorkarounds(Set(names)).isEmpty)
    }

    @Test("Console and other tools' names are accepted and ignored")
    func ignoredNames() throws {
        let names: Set<String> = ["solchannelsupport", "solstatus", "solpayloadsize", "serialalertsdeferred", "solport", "solpacketseq"]
        #expect(FreeIPMIClient.validateWorkarounds(names).isEmpty)
        for name in names { #expect(FreeIPMIWorkaround.named(name)?.scope == .ignored) }
        #expect(try ResolvedWorkarounds(names) == ResolvedWorkarounds([]))
    }

    @Test("Unknown names are reported, sorted, once each")
    func unknownNames() {
        #expect(FreeIPMIClient.validateWorkarounds(["opensesspriv", "bogus", "Nope", " bogus "]) == ["bogus", "nope"])
        #expect(FreeIPMIClient.validateWorkarounds([]) == [])
    }

    @Test("Names are case-insensitive, trimmed, and may be comma-separated")
    func normalisation() throws {
        let resolved = try ResolvedWorkarounds([" OpenSessPriv ", "authcap,idzero", ""])
        #expect(
            resolved.lan20
                == UInt32(
                    IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE
                        | IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES))
        #expect(
            resolved.lan15
                == UInt32(
                    IPMI_WORKAROUND_FLAGS_OUTOFBAND_AUTHENTICATION_CAPABILITIES | IPMI_WORKAROUND_FLAGS_OUTOFBAND_ACCEPT_SESSION_ID_ZERO))
    }

    @Test("Names resolve to the libfreeipmi flag words of their path")
    func flags() throws {
        #expect(
            try ResolvedWorkarounds(["intel20", "sun20"]).lan20
                == UInt32(IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION | IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION))
        #expect(try ResolvedWorkarounds(["intel20"]).lan15 == 0)
        #expect(
            try ResolvedWorkarounds(["forcepermsg", "endianseq", "noauthcodecheck", "unexpectedauth"]).lan15
                == UInt32(
                    IPMI_WORKAROUND_FLAGS_OUTOFBAND_FORCE_PERMSG_AUTHENTICATION | IPMI_WORKAROUND_FLAGS_OUTOFBAND_BIG_ENDIAN_SEQUENCE_NUMBER
                        | IPMI_WORKAROUND_FLAGS_OUTOFBAND_NO_AUTH_CODE_CHECK | IPMI_WORKAROUND_FLAGS_OUTOFBAND_CHECK_UNEXPECTED_AUTHCODE))
        let both = try ResolvedWorkarounds(["nochecksumcheck"])
        #expect(both.lan15 == UInt32(IPMI_WORKAROUND_FLAGS_OUTOFBAND_NO_CHECKSUM_CHECK))
        #expect(both.lan20 == UInt32(IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK))
        #expect(
            try ResolvedWorkarounds(["integritycheckvalue"]).lan20
                == UInt32(IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE))
        #expect(try ResolvedWorkarounds(["ignorescanningdisabled"]).sensorRead == UInt32(IPMI_SENSOR_READ_FLAGS_IGNORE_SCANNING_DISABLED))
        #expect(try ResolvedWorkarounds(["assumesystemevent"]).sel == UInt32(IPMI_SEL_FLAGS_ASSUME_SYTEM_EVENT_RECORDS))
        #expect(try ResolvedWorkarounds(["ignoreauthcode"]).context == UInt32(IPMI_FLAGS_IGNORE_AUTHENTICATION_CODE))
    }

    @Test("The known-name list is sorted, unique and documented")
    func knownList() {
        let names = FreeIPMIClient.knownWorkarounds
        #expect(names == names.sorted())
        #expect(Set(names).count == names.count)
        #expect(FreeIPMIWorkaround.all.allSatisfy { !$0.summary.isEmpty })
        #expect(names.contains("opensesspriv"))
    }

    @Test("An operation with an unknown workaround fails as invalidRequest before any network traffic")
    func clientRefusesUnknown() async throws {
        let client = FreeIPMIClient(threads: 1, minimumCommandInterval: .zero, retryTimeout: .seconds(30), logger: Logger(label: "test"))
        // 192.0.2.0/24 is TEST-NET-1: nothing answers there, so reaching the network would time out.
        let options = BMCSessionOptions(host: "192.0.2.1", workarounds: ["opensesspriv", "frobnicate"], sessionTimeout: .seconds(10))
        let started = ContinuousClock.now
        let error = await #expect(throws: IPMIError.self) { try await client.chassisStatus(options) }
        #expect(error?.kind == .invalidRequest)
        #expect(error?.message.contains("frobnicate") == true)
        // Refused before any network traffic: far sooner than the 10 s session timeout.
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("Options FreeIPMI would reject are refused with a clear message")
    func invalidOptions() async throws {
        let client = FreeIPMIClient(threads: 1, minimumCommandInterval: .zero, retryTimeout: .zero, logger: Logger(label: "test"))
        let cases: [(BMCSessionOptions, String)] = [
            (BMCSessionOptions(host: "192.0.2.1", password: String(repeating: "x", count: 21)), "password"),
            (BMCSessionOptions(host: "192.0.2.1", password: String(repeating: "x", count: 17), protocolVersion: .v1_5), "password"),
            (BMCSessionOptions(host: "192.0.2.1", username: String(repeating: "u", count: 17)), "user name"),
            (BMCSessionOptions(host: "192.0.2.1", kgKey: Array(repeating: 1, count: 21)), "K_g"),
            (BMCSessionOptions(host: "192.0.2.1", port: 70000), "port"),
            (BMCSessionOptions(host: ""), "address"),
        ]
        for (options, word) in cases {
            let error = await #expect(throws: IPMIError.self) { try await client.deviceID(options) }
            #expect(error?.kind == .invalidRequest)
            #expect(error?.message.contains(word) == true, "\(error?.message ?? "")")
        }
    }
}
