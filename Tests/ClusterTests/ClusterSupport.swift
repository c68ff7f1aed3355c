import Core
import Foundation
import IronicTesting
import Server
import Store
import Testing

/// The databases the multi-process tests run against: SQLite always; PostgreSQL at
/// `IRONIC_TEST_POSTGRES_URL` (started by `make test`). Without that variable the PostgreSQL
/// runs fail, saying how to start the server, unless `IRONIC_TEST_POSTGRES=skip`.
enum ClusterDatabase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    static var all: [ClusterDatabase] {
        ProcessInfo.processInfo.environment["IRONIC_TEST_POSTGRES"] == "skip" ? [.sqlite] : allCases
    }

    var testDescription: String { rawValue }

    func database() throws -> Cluster.Database {
        switch self {
        case .sqlite:
            return .sqlite
        case .postgresql:
            guard let url = ProcessInfo.processInfo.environment["IRONIC_TEST_POSTGRES_URL"], !url.isEmpty else {
                throw TestServerError.unexpected(
                    "IRONIC_TEST_POSTGRES_URL is not set: start a server with `make postgres-up` and export the URL it prints, or set IRONIC_TEST_POSTGRES=skip")
            }
            return .postgresql(server: url)
        }
    }
}

/// Runs `body` against a started cluster and stops it afterwards, keeping its directory (logs)
/// when the body throws.
func withCluster(
    _ database: ClusterDatabase, conductors: Int, heartbeatTimeout: Duration = .seconds(6), config: String = "",
    _ body: (Cluster) async throws -> Void
) async throws {
    let cluster = try await Cluster.start(
        conductors: conductors, database: try database.database(), heartbeatTimeout: heartbeatTimeout, config: config)
    do {
        try await body(cluster)
    } catch {
        await cluster.stop(keepDirectory: true)
        Issue.record("cluster logs kept in \(cluster.directory.path)")
        throw error
    }
    await cluster.stop()
}

extension Cluster {
    /// Every node, detailed (at API 1.78, with the `conductor` field).
    func allNodes() async throws -> [JSONValue] {
        try await request("GET", "/v1/nodes/detail?limit=1000").json()["nodes"]?.arrayValue ?? []
    }

    /// Creates `count` fake-hardware nodes and takes them to `available`.
    func createAvailableNodes(_ count: Int) async throws -> [String] {
        let uuids = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<count {
                group.addTask {
                    let node = try await self.createNode(["name": .string("node-\(index)")])
                    return node["uuid"]?.stringValue ?? ""
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        try await forEach(uuids) { uuid in
            try await self.provision(uuid, "manage")
            let node = try await self.provision(uuid, "provide")
            guard node["provision_state"] == "available" else {
                throw TestServerError.unexpected("node \(uuid) did not become available: \(node)")
            }
        }
        return uuids.sorted()
    }

    /// Runs `body` for every item, 32 at a time.
    func forEach(_ items: [String], _ body: @escaping @Sendable (String) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, item) in items.enumerated() {
                if index >= 32 { try await group.next() }
                group.addTask { try await body(item) }
            }
            try await group.waitForAll()
        }
    }

    /// Polls until `done` holds for the whole node list, or fails after `timeout`.
    @discardableResult
    func waitForNodes(timeout: Duration, _ what: String, until done: ([JSONValue]) -> Bool) async throws -> [JSONValue] {
        let deadline = ContinuousClock.now + timeout
        var nodes: [JSONValue] = []
        while ContinuousClock.now < deadline {
            nodes = try await allNodes()
            if done(nodes) { return nodes }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestServerError.timedOut("\(what) did not happen within \(timeout)")
    }

    /// The node's history entries' `event` texts.
    func historyEvents(_ uuid: String) async throws -> [String] {
        let history = try await request("GET", "/v1/nodes/\(uuid)/history?detail=true").json()
        return (history["history"]?.arrayValue ?? []).compactMap { $0["event"]?.stringValue }
    }

    /// A store on the cluster's database, for what the API does not show (`conductor_affinity`).
    func openStore() async throws -> any Store {
        var config = IronicConfig()
        config.database.connection = connection
        return try ServiceFactory.makeStore(config)
    }
}

/// Provision states a node must never be left in once its conductor is gone.
let transientStates: Set<String> = [
    "deploying", "cleaning", "verifying", "inspecting", "adopting", "rescuing", "unrescuing", "deleting", "servicing",
]
