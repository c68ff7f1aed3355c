import Foundation
import Testing

@testable import Lab

/// The generated files and configuration checks, without starting anything.
@Suite("Lab files")
struct LabFilesTests {
    @Test func everyEmulationNumberCarriesHexPrefix() {
        // ipmi_sim skips the rest of a .emu file after one bad number, leaving a BMC without a port.
        let emulation = LabFiles.emulation(name: "lab-node-0")
        for line in emulation.split(separator: "\n") where !line.hasPrefix("#") {
            for token in line.split(separator: " ").dropFirst() {
                let isBitmask = token.count >= 6 && token.allSatisfy { $0 == "0" || $0 == "1" }
                let isWord = token.first?.isLetter == true
                #expect(token.hasPrefix("0x") || isBitmask || isWord, "\(token) in \(line)")
            }
        }
        #expect(emulation.contains("sel_enable 0x20"))
        #expect(emulation.contains("main_sdr_add 0x20"))
        #expect(emulation.hasSuffix("mc_enable 0x20\n"))
    }

    @Test func temperatureSDRLengthMatchesItsBody() {
        let sdr = LabFiles.temperatureSDR(sensorNumber: 1, name: "CPU Temp")
        #expect(sdr[2] == 0x51 && sdr[3] == 0x01)
        #expect(Int(sdr[4]) == sdr.count - 5)
        #expect(sdr[47] == 0xc8)
        #expect(String(decoding: sdr[48...], as: UTF8.self) == "CPU Temp")
    }

    @Test func lanConfigurationHasEveryPort() {
        let lan = LabFiles.lanConfiguration(
            name: "lab-node-3", bmcPort: 9101, serialPort: 9102, consolePort: 9103, guid: LabFiles.randomGUID(),
            chassisControl: "/tmp/lab/chassis-control /tmp/lab/lab-node-3/chassis", username: "admin", password: "secret")
        #expect(lan.contains("addr 127.0.0.1 9101"))
        #expect(lan.contains("sol \"tcp:127.0.0.1:9102\" 115200"))
        #expect(lan.contains("console 127.0.0.1 9103"))
        #expect(lan.contains("chassis_control \"/tmp/lab/chassis-control /tmp/lab/lab-node-3/chassis\""))
        #expect(lan.contains("\"admin\" \"secret\" admin"))
    }

    @Test func chassisControlScriptKeepsStateInFiles() async throws {
        let directory = temporaryLabDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let chassis = directory.appendingPathComponent("chassis").path
        try ChassisFiles.initialize(in: chassis)
        let script = directory.appendingPathComponent("chassis-control").path
        try Data(LabFiles.chassisControlScript.utf8).write(to: URL(fileURLWithPath: script))

        func control(_ arguments: String...) async throws -> ToolResult {
            try await run("sh", [script, chassis] + arguments)
        }
        #expect(try await control("get", "power", "boot").output == "power:0\nboot:default\n")
        #expect(try await control("set", "power", "1").status == 0)
        #expect(ChassisFiles.powerOn(in: chassis))
        #expect(ChassisFiles.value("boots", in: chassis) == "1")
        #expect(try await control("set", "power", "1").status == 0)
        #expect(ChassisFiles.value("boots", in: chassis) == "1", "already on: no new boot")
        #expect(try await control("set", "reset", "1").status == 0)
        #expect(ChassisFiles.value("boots", in: chassis) == "2")
        #expect(try await control("set", "boot", "pxe").status == 0)
        #expect(ChassisFiles.bootDevice(in: chassis) == "pxe")
        #expect(try await control("get", "boot").output == "boot:pxe\n")
        #expect(try await control("set", "identify", "15 1").status != 0, "recorded, reported as failed")
        #expect(ChassisFiles.value("identify", in: chassis) == "15 1")
        #expect(try await control("set", "shutdown", "1").status == 0)
        #expect(!ChassisFiles.powerOn(in: chassis))
        #expect(try await control("set", "boot", "floppy").status != 0)
        #expect(try await control("set", "power").status != 0)
        #expect(try await control("get", "reset").status != 0)
        #expect(try await control("check", "power", "1").status != 0)
    }

    @Test func configurationIsValidated() {
        let directory = URL(fileURLWithPath: "/tmp/lab")
        #expect(throws: Never.self) { try LabConfiguration(directory: directory, count: 2).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 0).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 3000).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 2, basePort: 65534).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 2, basePort: 80).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 1, username: "a b").validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: directory, count: 1, password: "pa\"ss").validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: URL(fileURLWithPath: "/tmp/my lab"), count: 1).validate() }
        #expect(throws: LabError.self) { try LabConfiguration(directory: URL(fileURLWithPath: "/tmp/$(x)"), count: 1).validate() }
    }

    @Test func fixedPortLayout() {
        #expect(LabConfiguration.fixedPorts(basePort: 9100, index: 0) == (9100, 9101, 9102))
        #expect(LabConfiguration.fixedPorts(basePort: 9100, index: 2) == (9106, 9107, 9108))
    }

    @Test func driverInfoForIPMINodes() {
        let info = Lab.driverInfo(bmcPort: 9101, username: "admin", password: "password")
        #expect(
            info == [
                "ipmi_address": "127.0.0.1", "ipmi_port": "9101", "ipmi_username": "admin", "ipmi_password": "password",
                "ipmi_workarounds": "opensesspriv,solchannelsupport,solstatus,solpayloadsize",
            ])
    }

    @Test func bootLogNamesTheServerAndEndsWithAPrompt() {
        for device in ["default", "pxe", "cdrom", "none"] {
            let lines = BootLog.lines(name: "lab-node-7", bootDevice: device, macAddress: "52:54:00:aa:00:07")
            #expect(lines.last?.text == "lab-node-7 login: ")
            #expect(lines.contains { $0.text.contains("lab-node-7") })
            #expect(zip(lines, lines.dropFirst()).allSatisfy { $0.after <= $1.after })
        }
        #expect(BootLog.lines(name: "n", bootDevice: "bios", macAddress: "m").allSatisfy { !$0.text.contains("login") })
    }

    @Test func serialControlRequestsAreParsedStrictly() {
        #expect(SerialControl.tickInterval("100\n") == .milliseconds(100))
        #expect(SerialControl.tickInterval("5") == nil, "below 10 ms")
        #expect(SerialControl.tickInterval("fast") == nil)
        #expect(SerialControl.tickInterval(nil) == nil)
        #expect(SerialControl.burst("1048576\n") == SerialControl.Burst(bytes: 1_048_576))
        #expect(SerialControl.burst("4096 2000000") == SerialControl.Burst(bytes: 4096, bytesPerSecond: 2_000_000))
        let paced = SerialControl.Burst(bytes: 9, bytesPerSecond: 3)
        #expect(SerialControl.burst(paced.fileContent) == paced)
        for bad in ["0", "-1", "\(SerialControl.maximumBurst + 1)", "10 0", "10 x", "10 20 30", ""] {
            #expect(SerialControl.burst(bad) == nil, "\(bad)")
        }
    }

    @Test func burstBytesAreNumberedFixedLengthLinesInAnyChunking() {
        let name = "lab-node-12"
        let whole = SerialControl.burstBytes(name: name, offset: 0, count: 1000)
        #expect(whole.count == 1000)
        var pieces: [UInt8] = []
        var offset = 0
        for size in [1, 63, 64, 65, 7, 800] {
            pieces += SerialControl.burstBytes(name: name, offset: offset, count: size)
            offset += size
        }
        #expect(pieces == whole, "a burst reads the same however it is cut")
        let lines = String(decoding: whole, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines[0] == "lab-node-12 burst 0000000000 " + String(repeating: ".", count: 62 - 29))
        #expect(lines[14].hasPrefix("lab-node-12 burst 0000000014 "))
        #expect(lines.dropLast().allSatisfy { $0.utf8.count == SerialControl.burstLineLength - 2 })
    }

    @Test func consoleOutputWithoutTelnetNegotiation() {
        let raw: [UInt8] = [0xff, 0xfb, 0x03, 0xff, 0xfb, 0x01, 0xff, 0xfe, 0x01] + Array("sel_add 0x20\n\rAdded record 1\n\r".utf8)
        let text = String(decoding: CommandConsole.withoutTelnetCommands(raw[...]), as: UTF8.self)
        #expect(CommandConsole.strippingEcho(of: "sel_add 0x20", from: text) == "Added record 1")
    }

    @Test func probeRecognisesAnswers() {
        var answer: [UInt8] = [0x06, 0x00, 0xff, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x81, 0x1c, 0x63, 0x20, 0x00, 0x38, 0x00]
        #expect(BMCProbe.isAnswer(answer[...]))
        answer[20] = 0xc1
        #expect(!BMCProbe.isAnswer(answer[...]))
        #expect(!BMCProbe.isAnswer(BMCProbe.request[...]))
    }
}
