import ArgumentParser
import ChildProcesses
import Foundation
import Lab
import Logging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `ironic lab`: simulated servers (ipmi_sim BMCs with serial ports) on loopback.
public struct LabCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Simulated bare-metal servers on 127.0.0.1: ipmi_sim BMCs with power, boot device, SEL and serial console.",
        discussion: """
            `ironic lab up` starts the servers in a background process that serves their serial ports \
            and returns once every BMC answers (`--foreground` keeps it in the terminal instead); \
            `ironic lab down` stops everything it started. See docs/lab.md.
            """,
        subcommands: [LabUpCommand.self, LabEnrollCommand.self, LabDownCommand.self, LabStatusCommand.self])

    /// Creates the command with its defaults (ArgumentParser fills in the options).
    public init() {}
}

/// `--directory DIR`, shared by the lab subcommands.
public struct LabDirectoryOption: ParsableArguments {
    @Option(name: .customLong("directory"), help: "The lab's directory (generated files, state, lab.json).")
    var directory: String = "var/lab"

    /// Creates the options with their defaults.
    public init() {}

    /// The directory as an absolute file URL.
    public var url: URL { URL(fileURLWithPath: directory).standardizedFileURL }
}

/// `ironic lab up`: starts the servers. By default a background process keeps them (it serves
/// their serial ports) and the command returns once every BMC answers, so
/// `ironic lab up --nodes 5 && ironic lab enroll` works; `--foreground` keeps the lab in the
/// terminal until Ctrl-C.
public struct LabUpCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start N simulated servers, kept by a background process until `ironic lab down`.")

    @Flag(name: .customLong("foreground"), help: "Stay in the foreground and serve the lab until Ctrl-C or SIGTERM.")
    var foreground = false

    @Option(name: .customLong("start-timeout"), help: "Seconds to wait for the background lab to come up.")
    var startTimeout: Double = 120

    @OptionGroup var location: LabDirectoryOption

    @Option(name: .customLong("nodes"), help: "How many servers.")
    var nodes: Int = 2

    @Option(
        name: .customLong("base-port"),
        help: "Fixed ports: server i uses BASE+3i (BMC, UDP), BASE+3i+1 (serial), BASE+3i+2 (ipmi_sim console). Default: free ports.")
    var basePort: Int?

    @Option(name: .customLong("username"), help: "BMC user name.")
    var username: String = "admin"

    @Option(name: .customLong("password"), help: "BMC password.")
    var password: String = "password"

    @Flag(name: .customLong("no-boot-log"), help: "Keep the serial ports quiet at power-on (they still echo input).")
    var noBootLog = false

    @Flag(name: .customLong("enroll"), help: "Also enroll the servers as ipmi nodes once they are up (see `ironic lab enroll`).")
    var enroll = false

    @Option(
        name: .customLong("vms"),
        help: "Start N QEMU/KVM virtual machines instead of simulated servers: the BMC powers them, they network-boot over iPXE.")
    var vms: Int?

    @Option(name: .customLong("boot-url"), help: "For --vms: the boot file the machines' DHCP hands out (the conductor's [deploy] http_url + /boot.ipxe).")
    var bootURL: String = VirtualMachineSettings().bootURL

    @Option(
        name: .customLong("tftp-root"),
        help: "For --vms: boot PXELINUX over TFTP instead of --boot-url: QEMU's own TFTP server serves DIR (the conductor's [pxe] tftp_root), for nodes with the pxe boot interface.")
    var tftpRoot: String?

    @Option(name: .customLong("tftp-boot-file"), help: "For --tftp-root: the boot file the machines' DHCP names (the conductor's [pxe] pxe_bootfile_name).")
    var tftpBootFile: String = VirtualMachineSettings().tftpBootFile

    @Option(name: .customLong("vm-memory"), help: "For --vms: memory per machine in MiB.")
    var vmMemory: Int = VirtualMachineSettings().memoryMiB

    @OptionGroup var api: LabAPIOptions

    /// Creates the command with its defaults (ArgumentParser fills in the options).
    public init() {}

    /// Rejects options that only make sense together.
    public func validate() throws {
        if tftpRoot != nil, vms == nil { throw ValidationError("--tftp-root needs --vms: only virtual machines network-boot") }
    }

    /// Runs the command.
    public func run() async throws {
        if !foreground {
            try await runDetached()
            return
        }
        ProcessLogging.bootstrap()
        // Signals first: one arriving during the start stops the lab as soon as it is up.
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM, SIGHUP])
        var configuration = LabConfiguration(
            directory: location.url, count: vms ?? nodes, basePort: basePort,
            username: username, password: password, bootLog: !noBootLog && vms == nil)
        if vms != nil {
            var machines = VirtualMachineSettings()
            machines.bootURL = bootURL
            if let tftpRoot {
                machines.tftpRoot = URL(fileURLWithPath: tftpRoot, isDirectory: true).standardizedFileURL.path
                machines.tftpBootFile = tftpBootFile
            }
            machines.memoryMiB = vmMemory
            configuration.machines = machines
            if VirtualMachineSettings.acceleration != "kvm" {
                print("warning: /dev/kvm is not usable: the machines run under TCG (software emulation), many times slower")
            }
        }
        configuration.logger = Logger(label: "ironic.lab")
        let lab: Lab
        do {
            lab = try await Lab.start(configuration)
        } catch let error as LabError {
            throw LabCommandError(error.description)
        }
        print(
            LabTable.render(
                lab.servers.map {
                    LabTable.Row(
                        name: $0.name, bmcPort: $0.bmcPort, serialPort: $0.serialPort, consolePort: $0.consolePort,
                        pid: $0.pid, running: true, power: $0.powerOn, bootDevice: $0.bootDevice, mac: $0.macAddress)
                }))
        if let first = lab.servers.first {
            print(
                """

                Try:   ipmipower -h 127.0.0.1:\(first.bmcPort) -u \(username) -p \(password) -W opensesspriv --stat
                       nc 127.0.0.1 \(first.serialPort)     (the serial port of \(first.name))
                Enroll: ironic lab enroll --directory \(location.directory)
                Stop:  Ctrl-C, or ironic lab down --directory \(location.directory)
                """)
        }
        fflush(nil)
        if enroll, let state = lab.state {
            do {
                try await LabEnrollment(api: api).enroll(state)
            } catch {
                print("enrollment failed: \(error)")
            }
            fflush(nil)
        }
        let received = await signals.next()
        print("\nsignal \(received): stopping the lab")
        fflush(nil)
        await lab.stop()
    }
}

/// `ironic lab down`: stops the lab `ironic lab up` runs in the directory.
public struct LabDownCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop the lab in the directory: signal its `ironic lab up`, then end any BMC of it left running.")

    @OptionGroup var location: LabDirectoryOption

    @Option(name: .customLong("timeout"), help: "Seconds to wait for `ironic lab up` to stop.")
    var timeout: Int = 20

    /// Creates the command with its defaults (ArgumentParser fills in the options).
    public init() {}

    /// Runs the command.
    public func run() async throws {
        let report: LabStopReport
        do {
            report = try await Lab.stopRunning(in: location.url, timeout: .seconds(timeout))
        } catch let error as LabError {
            throw LabCommandError(error.description)
        }
        guard report.found else {
            print("No lab in \(location.url.path).")
            return
        }
        if report.ownerStopped { print("Stopped `ironic lab up` and its servers.") }
        if !report.killedServers.isEmpty { print("Ended left-over BMCs: \(report.killedServers.joined(separator: ", ")).") }
        if !report.ownerStopped && report.killedServers.isEmpty && report.survivors.isEmpty { print("Nothing was running.") }
        if !report.survivors.isEmpty {
            print("Could not end: \(report.survivors.joined(separator: ", ")).")
            throw ExitCode(1)
        }
    }
}

/// `ironic lab status`: what runs in the lab directory.
public struct LabStatusCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the lab's servers: ports, BMC process, power and boot device.")

    @OptionGroup var location: LabDirectoryOption

    @Flag(name: .customLong("json"), help: "Print JSON instead of a table.")
    var json = false

    /// Creates the command with its defaults (ArgumentParser fills in the options).
    public init() {}

    /// Runs the command.
    public func run() async throws {
        guard let state = try LabState.load(from: location.url) else {
            print("No lab in \(location.url.path).")
            throw ExitCode(3)
        }
        let rows = state.servers.map {
            LabTable.Row(
                name: $0.name, bmcPort: $0.bmcPort, serialPort: $0.serialPort, consolePort: $0.consolePort,
                pid: $0.pid, running: $0.isRunning, power: $0.powerOn, bootDevice: $0.bootDevice, mac: $0.macAddress)
        }
        let ownerRunning = state.isOwnerRunning
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let status = LabTable.Status(directory: state.directory, ownerPID: state.ownerPID, ownerRunning: ownerRunning, servers: rows)
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(
                "Lab in \(state.directory): `ironic lab up` (pid \(state.ownerPID)) \(ownerRunning ? "running" : "NOT running, serial ports down")"
            )
            print(LabTable.render(rows))
        }
    }
}

/// `ironic lab enroll`: registers the lab's servers as `ipmi` nodes through the REST API.
public struct LabEnrollCommand: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll the lab's servers as ipmi nodes (POST /v1/nodes); names that exist are skipped.")

    @OptionGroup var location: LabDirectoryOption
    @OptionGroup var api: LabAPIOptions

    @Option(
        name: .customLong("deploy-images"),
        help: "Where the deploy ramdisk of virtual machines is (ipa.kernel, ipa.initramfs; scripts/build-deploy-ramdisk.sh).")
    var deployImages = "var/images"

    /// Creates the command with its defaults (ArgumentParser fills in the options).
    public init() {}

    /// Runs the command.
    public func run() async throws {
        guard let state = try LabState.load(from: location.url) else {
            throw ValidationError("no lab in \(location.url.path); start one with `ironic lab up --directory \(location.directory)`")
        }
        if !state.isOwnerRunning {
            print("warning: the lab's `ironic lab up` (pid \(state.ownerPID)) is not running")
        }
        let images = URL(fileURLWithPath: deployImages, isDirectory: true).standardizedFileURL
        try await LabEnrollment(api: api, deployImages: images).enroll(state)
    }
}

extension LabEnrollment {
    /// A server's driver_info: its BMC, and for a virtual machine the lab's deploy ramdisk
    /// (`scripts/build-deploy-ramdisk.sh`), also as its rescue ramdisk, with the kernel parameters that let the agent be
    /// reached through the port QEMU forwards.
    func driverInfo(_ server: LabState.Server, _ state: LabState) -> [String: String] {
        var info = state.driverInfo(for: server)
        if let agentPort = server.agentPort {
            info["deploy_kernel"] = deployImages.appendingPathComponent("ipa.kernel").path
            info["deploy_ramdisk"] = deployImages.appendingPathComponent("ipa.initramfs").path
            // The same agent serves rescue: it sets the rescue user's password and stays up.
            info["rescue_kernel"] = info["deploy_kernel"]
            info["rescue_ramdisk"] = info["deploy_ramdisk"]
            // The ansible deploy interface logs in to the ramdisk as "ansible" with the
            // ramdisk's key, through the port QEMU forwards to its SSH.
            if let sshPort = server.sshPort {
                info["ansible_username"] = "ansible"
                info["ansible_key_file"] = deployImages.appendingPathComponent("ansible_key").path
                info["ansible_port"] = String(sshPort)
            }
            info["kernel_append_params"] =
                "console=ttyS0 ipa-insecure=1 ipa-advertise-host=127.0.0.1 ipa-advertise-port=\(agentPort)"
        }
        return info
    }
}

/// Where the Bare Metal API is, as the `baremetal` client takes it.
public struct LabAPIOptions: ParsableArguments {
    @Option(name: .customLong("os-endpoint"), help: "The Bare Metal API endpoint.")
    var endpoint: String = ProcessInfo.processInfo.environment["OS_ENDPOINT"] ?? "http://127.0.0.1:6385"

    @Option(name: .customLong("os-token"), help: "A token for X-Auth-Token (none by default: noauth).")
    var token: String?

    @Option(name: .customLong("resource-class"), help: "resource_class for the new nodes.")
    var resourceClass: String?

    @Flag(
        name: .customLong("update-existing"),
        help: "Point nodes that already exist at the lab's current BMC ports (PATCH driver_info) instead of only warning.")
    var updateExisting = false

    /// Creates the options with their defaults.
    public init() {}
}

/// A failure of a lab command, printed as `Error: ...` without the usage text.
struct LabCommandError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// Enrolls lab servers through the REST API, skipping names that exist.
struct LabEnrollment {
    var api: LabAPIOptions
    /// Where the deploy ramdisk of lab virtual machines is (`var/images`).
    var deployImages = URL(fileURLWithPath: "var/images", isDirectory: true).standardizedFileURL

    /// The microversion sent: names in node URLs need 1.5; 1.31 is old enough for any server.
    static let apiVersion = "1.31"

    func enroll(_ state: LabState) async throws {
        guard let base = URL(string: api.endpoint.hasSuffix("/") ? String(api.endpoint.dropLast()) : api.endpoint),
            base.scheme == "http" || base.scheme == "https"
        else {
            throw ValidationError("--os-endpoint must be an http(s) URL, not \(api.endpoint)")
        }
        var created = 0
        for server in state.servers {
            let (existing, status) = try await send("GET", base.appendingPathComponent("v1/nodes/\(server.name)"), body: nil)
            if status == 200 {
                try await handleExisting(server, in: state, node: existing, base: base)
                continue
            }
            guard status == 404 else {
                throw LabCommandError("GET /v1/nodes/\(server.name): HTTP \(status): \(String(decoding: existing, as: UTF8.self))")
            }
            var node: [String: Any] = ["name": server.name, "driver": "ipmi", "driver_info": driverInfo(server, state)]
            if let resourceClass = api.resourceClass { node["resource_class"] = resourceClass }
            let body = try JSONSerialization.data(withJSONObject: node, options: [.sortedKeys])
            let (reply, createStatus) = try await send("POST", base.appendingPathComponent("v1/nodes"), body: body)
            guard createStatus == 201 || createStatus == 200 else {
                throw LabCommandError("POST /v1/nodes for \(server.name): HTTP \(createStatus): \(String(decoding: reply, as: UTF8.self))")
            }
            let uuid = (try? JSONSerialization.jsonObject(with: reply) as? [String: Any])?["uuid"] as? String
            if server.agentPort != nil, let uuid {
                let port = try JSONSerialization.data(withJSONObject: ["node_uuid": uuid, "address": server.macAddress, "pxe_enabled": true])
                let (portReply, portStatus) = try await send("POST", base.appendingPathComponent("v1/ports"), body: port)
                guard portStatus == 201 else {
                    throw LabCommandError("POST /v1/ports for \(server.name): HTTP \(portStatus): \(String(decoding: portReply, as: UTF8.self))")
                }
            }
            print("\(server.name): enrolled\(uuid.map { " as \($0)" } ?? "") (ipmi, 127.0.0.1:\(server.bmcPort))")
            created += 1
        }
        print("\(created) node(s) created, \(state.servers.count - created) already there.")
    }

    /// A node of that name exists: fine when it points at this server's BMC; otherwise (the
    /// lab restarted on other ports) warn, or with `--update-existing` patch its driver_info.
    private func handleExisting(_ server: LabState.Server, in state: LabState, node: Data, base: URL) async throws {
        let object = (try? JSONSerialization.jsonObject(with: node)) as? [String: Any]
        let uuid = object?["uuid"] as? String ?? "?"
        let current = object?["driver_info"] as? [String: Any] ?? [:]
        let wanted = state.driverInfo(for: server)
        let stale = ["ipmi_address", "ipmi_port", "ipmi_username"].filter { key in
            "\(current[key].map { "\($0)" } ?? "")" != wanted[key]
        }
        guard !stale.isEmpty else {
            print("\(server.name): exists (\(uuid)), skipped")
            return
        }
        guard api.updateExisting else {
            print(
                print(
                    "\(server.name): exists (\(uuid)) with another \(stale.joined(separator: "/")); skipped (--update-existing patches it)")
            )
            return
        }
        let patch = wanted.keys.sorted().map { ["op": "add", "path": "/driver_info/\($0)", "value": wanted[$0]!] }
        let body = try JSONSerialization.data(withJSONObject: patch, options: [.sortedKeys])
        let (reply, status) = try await send("PATCH", base.appendingPathComponent("v1/nodes/\(server.name)"), body: body)
        guard status == 200 else {
            throw LabCommandError("PATCH /v1/nodes/\(server.name): HTTP \(status): \(String(decoding: reply, as: UTF8.self))")
        }
        print("\(server.name): exists (\(uuid)), driver_info updated to 127.0.0.1:\(server.bmcPort)")
    }

    private func send(_ method: String, _ url: URL, body: Data?) async throws -> (Data, Int) {
        var request = URLRequest(url: url, timeoutInterval: 30)
        request.httpMethod = method
        request.setValue(Self.apiVersion, forHTTPHeaderField: "X-OpenStack-Ironic-API-Version")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token = api.token { request.setValue(token, forHTTPHeaderField: "X-Auth-Token") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
        } catch {
            throw LabCommandError("\(method) \(url.absoluteString) failed: \(error.localizedDescription) (is the API running?)")
        }
    }
}

/// The table `lab up` and `lab status` print.
enum LabTable {
    struct Row: Encodable {
        var name: String
        var bmcPort: Int
        var serialPort: Int
        var consolePort: Int
        var pid: Int32
        var running: Bool
        var power: Bool
        var bootDevice: String
        var mac: String
    }

    struct Status: Encodable {
        var directory: String
        var ownerPID: Int32
        var ownerRunning: Bool
        var servers: [Row]
    }

    static func render(_ rows: [Row]) -> String {
        let header = ["NAME", "BMC (UDP)", "SERIAL", "CONSOLE", "PID", "BMC", "POWER", "BOOT", "MAC"]
        let cells = rows.map {
            [
                $0.name, "127.0.0.1:\($0.bmcPort)", String($0.serialPort), String($0.consolePort), String($0.pid),
                $0.running ? "up" : "DOWN", $0.power ? "on" : "off", $0.bootDevice, $0.mac,
            ]
        }
        let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        return ([header] + cells).map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

/// Waits for the first of some signals (their default action is replaced while it exists).
final class SignalWaiter {
    private let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func next() async -> Int32 {
        for await number in stream { return number }
        return 0
    }
}

extension LabUpCommand {
    /// Starts `ironic lab up --foreground` with the same options as a background process in a
    /// session of its own (output in `DIR/lab-up.log`), waits until it has written the lab's
    /// state with every BMC up, prints the table, and enrolls when asked.
    func runDetached() async throws {
        let directory = location.url
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let existing = try? LabState.load(from: directory), existing.isOwnerRunning {
            throw LabCommandError("A lab is already running in \(directory.path) (pid \(existing.ownerPID)); `ironic lab down` stops it.")
        }
        let logURL = directory.appendingPathComponent("lab-up.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        var arguments = ["lab", "up", "--foreground", "--directory", location.directory, "--nodes", String(nodes),
                         "--username", username, "--password", password]
        if let basePort { arguments += ["--base-port", String(basePort)] }
        if noBootLog { arguments.append("--no-boot-log") }
        if let vms { arguments += ["--vms", String(vms), "--boot-url", bootURL, "--vm-memory", String(vmMemory)] }
        if let tftpRoot {
            // Absolute: the keeper may not share this process's working directory.
            let root = URL(fileURLWithPath: tftpRoot, isDirectory: true).standardizedFileURL.path
            arguments += ["--tftp-root", root, "--tftp-boot-file", tftpBootFile]
        }
        // setsid(1) gives the keeper a session of its own (no SIGHUP when this terminal goes);
        // it may fork to do so, so the keeper is recognised by the state it writes, not by PID.
        let launched = Date().addingTimeInterval(-1)
        let process = try ChildProcess(
            "/usr/bin/setsid", [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path] + arguments,
            output: .file(logURL.path))
        let deadline = Date().addingTimeInterval(startTimeout)
        var state: LabState?
        while Date() < deadline {
            if !process.isRunning, process.waitUntilExit() != 0 {
                let tail = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                throw LabCommandError("The lab did not start (exit status \(process.waitUntilExit())):\n\(tail)")
            }
            if let current = try? LabState.load(from: directory), current.startedAt >= launched, current.isOwnerRunning {
                state = current
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let state else {
            _ = try? await Lab.stopRunning(in: directory, timeout: .seconds(20))
            throw LabCommandError("The lab did not come up within \(Int(startTimeout)) s; see \(logURL.path).")
        }
        print(
            LabTable.render(
                state.servers.map {
                    LabTable.Row(
                        name: $0.name, bmcPort: $0.bmcPort, serialPort: $0.serialPort, consolePort: $0.consolePort,
                        pid: $0.pid, running: $0.isRunning, power: $0.powerOn, bootDevice: $0.bootDevice, mac: $0.macAddress)
                }))
        print("\nThe lab runs in the background (pid \(state.ownerPID), log \(logURL.path)); `ironic lab down --directory \(location.directory)` stops it.")
        if enroll {
            try await LabEnrollment(api: api).enroll(state)
        }
    }
}
