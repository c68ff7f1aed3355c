// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "swift-ironic",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ironic", targets: ["ironic"]),
        .executable(name: "ironic-api", targets: ["ironic-api"]),
        .executable(name: "ironic-conductor", targets: ["ironic-conductor"]),
        .executable(name: "ironic-dbsync", targets: ["ironic-dbsync"]),
        .executable(name: "ironic-bench-sync", targets: ["ironic-bench-sync"]),
        .executable(name: "ironic-ipmiproxy", targets: ["ironic-ipmiproxy"]),
        .library(name: "IronicTesting", targets: ["IronicTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Node model, provision state machine, errors, configuration, driver interface protocols.
        .target(
            name: "Core",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The storage protocol every backend implements.
        .target(name: "Store", dependencies: ["Core"], swiftSettings: swiftSettings),
        // Embedded SQLite backend (GRDB, WAL mode, numbered migrations).
        .target(
            name: "SQLiteStore",
            dependencies: ["Core", "Store", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL backend (postgres-nio connection pool, numbered migrations, advisory-locked upgrade).
        .target(
            name: "PostgreSQLStore",
            dependencies: [
                "Core", "Store",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The conductor's request/reply vocabulary, the hash ring, and JSON-RPC between API and conductors.
        .target(
            name: "RPC",
            dependencies: [
                "Core", "Store",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // libfreeipmi and libipmiconsole (module map + shim header).
        .systemLibrary(
            name: "CFreeIPMI",
            path: "Sources/CFreeIPMI",
            pkgConfig: "libfreeipmi",
            providers: [.apt(["libfreeipmi-dev", "libipmiconsole-dev"])]
        ),
        // libcrypt (libxcrypt): bcrypt for htpasswd files.
        .systemLibrary(
            name: "CCrypt",
            path: "Sources/CCrypt",
            providers: [.apt(["libcrypt-dev"])]
        ),
        // A safe Swift client for BMCs over FreeIPMI; blocking calls on its own thread pool.
        .target(
            name: "IPMI",
            dependencies: ["CFreeIPMI", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Simulated servers on loopback: OpenIPMI ipmi_sim BMCs with chassis control and a serial port.
        // Child processes started with posix_spawn (never Foundation's Process).
        .target(name: "ChildProcesses", swiftSettings: swiftSettings),
        .target(
            name: "Lab",
            dependencies: ["ChildProcesses", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The console proxy's wire vocabulary and a small client for its REST API (Foundation only).
        .target(name: "ConsoleProxyAPI", swiftSettings: swiftSettings),
        // ironic-ipmiproxy: REST API, supervisor and one worker process per serial-over-LAN session.
        .target(
            name: "ConsoleProxy",
            dependencies: [
                "Core", "IPMI", "ConsoleProxyAPI", "ChildProcesses",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ironic-ipmiproxy",
            dependencies: ["ConsoleProxy", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // The ipmi hardware type: power and management through the IPMI module.
        .target(
            name: "IPMIHardware",
            dependencies: ["Core", "GenericInterfaces", "IPMI", "ConsoleProxyAPI", .product(name: "Logging", package: "swift-log")],
            path: "Drivers/IPMI",
            swiftSettings: swiftSettings
        ),
        // Interfaces that every hardware type may use (noop network, no-* placeholders).
        .target(name: "GenericInterfaces", dependencies: ["Core"], path: "Drivers/Generic", swiftSettings: swiftSettings),
        // The fake-hardware hardware type.
        .target(
            name: "FakeHardware",
            dependencies: ["Core", "GenericInterfaces"],
            path: "Drivers/Fake",
            swiftSettings: swiftSettings
        ),
        // Provisioning through the ironic-python-agent ramdisk: the `direct` deploy, `ipxe` and
        // `pxe` boot, `agent` inspect and rescue interfaces, and the agent's REST client.
        .target(
            name: "AgentDrivers",
            dependencies: [
                "Core", "GenericInterfaces", "ChildProcesses", "CCrypt",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Drivers/Agent",
            swiftSettings: swiftSettings
        ),
        // Provisioning through Ansible playbooks the conductor runs over SSH against the deploy
        // ramdisk: the `ansible` deploy interface and the runner that batches playbook runs.
        .target(
            name: "AnsibleDrivers",
            dependencies: [
                "Core", "GenericInterfaces", "ChildProcesses", "AgentDrivers",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Drivers/Ansible",
            swiftSettings: swiftSettings
        ),
        // Every hardware type this build ships, by name.
        .target(
            name: "HardwareTypes",
            dependencies: ["Core", "GenericInterfaces", "FakeHardware", "IPMIHardware", "AgentDrivers", "AnsibleDrivers"],
            path: "Drivers/Registry",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Conductor",
            dependencies: [
                "Core", "Store", "RPC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "API",
            dependencies: [
                "Core", "Store", "RPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wiring shared by the executables: configuration, store, conductor and API services.
        .target(
            name: "Server",
            dependencies: [
                "Core", "Store", "SQLiteStore", "PostgreSQLStore", "RPC", "Conductor", "API", "HardwareTypes", "Lab", "ChildProcesses",
                "ConsoleProxy", "IPMIHardware", "CCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "ironic", dependencies: ["Server", "ConsoleProxy"], swiftSettings: swiftSettings),
        .executableTarget(name: "ironic-api", dependencies: ["Server"], swiftSettings: swiftSettings),
        .executableTarget(name: "ironic-conductor", dependencies: ["Server"], swiftSettings: swiftSettings),
        .executableTarget(name: "ironic-dbsync", dependencies: ["Server"], swiftSettings: swiftSettings),
        // Benchmark: one power-sync pass across lab BMCs beside FreeIPMI's ipmipower.
        .executableTarget(
            name: "ironic-bench-sync",
            dependencies: [
                "Server", "Lab", "Conductor", "ChildProcesses", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/SyncBench",
            swiftSettings: swiftSettings
        ),
        // Test support: a real server on a random loopback port and an HTTP client for it.
        .target(
            name: "IronicTesting",
            dependencies: ["Server", "Lab", "ChildProcesses", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "CoreTests", dependencies: ["Core"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "Core", "Store", "SQLiteStore", "PostgreSQLStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DriverTests", dependencies: ["Core", "HardwareTypes", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(
            name: "AgentDriverTests",
            dependencies: [
                "AgentDrivers", "Core", "IronicTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AnsibleDriverTests",
            dependencies: [
                "AnsibleDrivers", "Core", "ChildProcesses", "HardwareTypes", "Conductor", "RPC", "Store", "SQLiteStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "IPMITests", dependencies: ["IPMI", "Lab"], swiftSettings: swiftSettings),
        .testTarget(name: "LabTests", dependencies: ["Lab", "ChildProcesses"], swiftSettings: swiftSettings),
        .testTarget(name: "BenchmarkTests", dependencies: ["IronicTesting", "ChildProcesses"], swiftSettings: swiftSettings),
        .testTarget(
            name: "IPMIHardwareTests",
            dependencies: ["IPMIHardware", "IPMI", "Lab", "Core", "HardwareTypes", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConductorTests",
            dependencies: ["Conductor", "Core", "Store", "SQLiteStore", "HardwareTypes", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RPCTests",
            dependencies: ["RPC", "Core", "Store", "SQLiteStore", "Conductor", "HardwareTypes", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "IronicTesting", "Server", "Core", "Store", "Lab", "ChildProcesses", "RPC", "Conductor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleProxyTests",
            dependencies: ["ConsoleProxy", "ConsoleProxyAPI", "IPMI", "Lab", "ChildProcesses", "Core", "IronicTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: ["IronicTesting", "ConsoleProxy", "ConsoleProxyAPI", "Lab", "ChildProcesses", "Core", "Server"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "APITests", dependencies: ["IronicTesting", "Server", "API", "Core", "Store", "SQLiteStore", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
    ]
)
