import Core
import Foundation
import Testing

@Suite("ironic.conf")
struct ConfigurationTests {
    @Test func defaultsNeedNoFile() throws {
        let config = try IronicConfig.load(files: [])
        #expect(config.api.hostIP == "127.0.0.1")
        #expect(config.api.port == 6385)
        #expect(config.database.connection == "sqlite:///var/ironic.sqlite")
        #expect(config.drivers.enabledHardwareTypes == ["fake-hardware", "ipmi"])
        #expect(config.conductor.heartbeatTimeout == .seconds(60))
        #expect(config.conductor.consoleReconcileInterval == .seconds(30))
    }

    @Test func readsIronicSectionsAndOptions() throws {
        let ini = try INIFile(parsing: """
            # comment
            [DEFAULT]
            host = cond-1
            enabled_hardware_types = fake-hardware, ipmi
            enabled_console_interfaces = fake,no-console
            default_console_interface = no-console
            debug = True

            [api]
            host_ip = 127.0.0.2
            port = 6400
            max_limit = 50

            [database]
            connection = sqlite:////tmp/x.sqlite

            [conductor]
            heartbeat_interval = 2.5
            heartbeat_timeout = 30
            automated_clean = false
            console_reconcile_interval = 0.5
            """)
        let config = try IronicConfig(ini: ini)
        #expect(config.host == "cond-1")
        #expect(config.debug)
        #expect(config.drivers.enabledHardwareTypes == ["fake-hardware", "ipmi"])
        #expect(config.drivers.enabledInterfaces[.console] == ["fake", "no-console"])
        #expect(config.drivers.defaultInterfaces[.console] == "no-console")
        #expect(config.api.hostIP == "127.0.0.2")
        #expect(config.api.port == 6400)
        #expect(config.api.maxLimit == 50)
        #expect(config.database.connection == "sqlite:////tmp/x.sqlite")
        #expect(config.conductor.heartbeatInterval == .milliseconds(2500))
        #expect(config.conductor.automatedClean == false)
        #expect(config.conductor.consoleReconcileInterval == .milliseconds(500))
    }

    @Test func laterFilesWin() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("a.conf")
        let second = directory.appendingPathComponent("b.conf")
        try "[api]\nport = 7000\nmax_limit = 10\n".write(to: first, atomically: true, encoding: .utf8)
        try "[api]\nport = 7001\n".write(to: second, atomically: true, encoding: .utf8)
        let config = try IronicConfig.load(files: [first.path, second.path])
        #expect(config.api.port == 7001)
        #expect(config.api.maxLimit == 10)
    }

    @Test(arguments: [
        "[api]\nport = many\n",
        "[api]\nport = 70000\n",
        "[conductor]\nautomated_clean = sometimes\n",
        "[conductor]\nheartbeat_interval = -1\n",
        "[conductor]\nconsole_reconcile_interval = often\n",
        "port = 1\n",
        "[api\nport = 1\n",
        "[api]\njust text\n",
    ])
    func badFilesAreRefusedWithAReason(text: String) {
        #expect(throws: ConfigError.self) {
            _ = try IronicConfig(ini: try INIFile(parsing: text))
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigError.self) { _ = try IronicConfig.load(files: ["/nonexistent/ironic.conf"]) }
    }
}
