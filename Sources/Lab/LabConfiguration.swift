import Foundation
import Logging

/// How to build a lab of simulated servers.
///
/// ```swift
/// let lab = try await Lab.start(LabConfiguration(directory: tmp, count: 2))
/// defer { Task { await lab.stop() } }
/// ```
public struct LabConfiguration: Sendable {
    /// Where the lab writes its generated files and state (created if missing).
    ///
    /// The path is written into `ipmi_sim` configuration and a shell command line, so it may
    /// only contain letters, digits and `/._-+@:,=`.
    public var directory: URL
    /// How many simulated servers to start (1...2000).
    public var count: Int
    /// First port of a fixed layout, or nil to pick free loopback ports (BMC and console ports
    /// in 10000...32767, the serial ports from the kernel).
    ///
    /// Server `i` uses `basePort + 3i` (BMC, UDP), `basePort + 3i + 1` (serial, TCP) and
    /// `basePort + 3i + 2` (ipmi_sim command console, TCP). Keep BMC ports at or below 32767:
    /// FreeIPMI's libipmiconsole (serial-over-LAN) refuses higher ones.
    public var basePort: Int?
    /// The BMC administrator's user name (letters, digits, `._-`; at most 16 characters).
    public var username: String = "admin"
    /// The BMC administrator's password (letters, digits, `._-`; at most 20 characters).
    public var password: String = "password"
    /// Whether the serial port prints a boot log when the server powers on.
    public var bootLog: Bool = true
    /// How long `Lab.start` waits for every BMC to answer (plus 10 ms per server).
    public var startTimeout: Duration = .seconds(15)
    /// The `ipmi_sim` executable; nil searches `PATH`, `/usr/bin` and `/usr/local/bin`.
    public var ipmiSimPath: String? = nil
    /// Keep the generated files and logs after `stop()` (for debugging).
    public var keepFiles: Bool = false
    /// When set, every server is a QEMU machine that its BMC powers (see `VirtualMachineSettings`).
    public var machines: VirtualMachineSettings? = nil
    /// Where the lab logs what it starts and stops.
    public var logger: Logger = Logger(label: "ironic.lab")

    /// Creates a configuration for `count` servers under `directory`.
    public init(
        directory: URL, count: Int, basePort: Int? = nil, username: String = "admin",
        password: String = "password", bootLog: Bool = true
    ) {
        self.directory = directory
        self.count = count
        self.basePort = basePort
        self.username = username
        self.password = password
        self.bootLog = bootLog
    }

    /// The largest lab `Lab.start` accepts.
    public static let maximumCount = 2000

    /// The ports of server `index` in the fixed layout that starts at `basePort`.
    public static func fixedPorts(basePort: Int, index: Int) -> (bmc: Int, serial: Int, console: Int) {
        (basePort + 3 * index, basePort + 3 * index + 1, basePort + 3 * index + 2)
    }

    /// Checks the values `Lab.start` relies on.
    ///
    /// - Throws: `LabError.invalidConfiguration` naming the first bad value.
    public func validate() throws(LabError) {
        guard (1...Self.maximumCount).contains(count) else {
            throw .invalidConfiguration("count must be between 1 and \(Self.maximumCount), not \(count)")
        }
        if let basePort {
            guard basePort >= 1024, basePort + 3 * count - 1 <= 65535 else {
                throw .invalidConfiguration(
                    "basePort \(basePort) with \(count) servers needs ports \(basePort)...\(basePort + 3 * count - 1) within 1024...65535")
            }
        }
        guard Self.isPlainToken(username, maximumLength: 16) else {
            throw .invalidConfiguration("username must be 1...16 letters, digits or ._- characters")
        }
        guard Self.isPlainToken(password, maximumLength: 20) else {
            throw .invalidConfiguration("password must be 1...20 letters, digits or ._- characters")
        }
        let path = directory.standardizedFileURL.path
        guard directory.isFileURL, !path.isEmpty, path.unicodeScalars.allSatisfy(Self.isSafePathScalar) else {
            throw .invalidConfiguration(
                "directory \(path) must be a file path of letters, digits and /._-+@:,= (it goes into ipmi_sim's configuration and a shell command)"
            )
        }
    }

    // lan.conf has no quoting inside a quoted string, and ipmi_sim runs `chassis_control`
    // through `sh -c`, so every generated path and credential stays within a plain alphabet.
    static func isPlainToken(_ text: String, maximumLength: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maximumLength
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
            }
    }

    static func isSafePathScalar(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        if ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) { return true }
        return "/._-+@:,=".unicodeScalars.contains(scalar)
    }
}
