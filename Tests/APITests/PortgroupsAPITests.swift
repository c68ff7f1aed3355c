import Core
import Foundation
import IronicTesting
import Testing

@Suite("Portgroups")
struct PortgroupsAPITests {
    @Test func createShowListPatchDelete() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "pg-node"])
        let nodeUUID = try #require(node["uuid"]?.stringValue)

        let response = try await server.request(
            "POST", "/v1/portgroups",
            json: ["node_uuid": .string(nodeUUID), "name": "bond0", "address": "52:54:00:AA:00:01", "properties": ["miimon": "100"]])
        #expect(response.status == 201)
        let created = try response.json()
        let uuid = try #require(created["uuid"]?.stringValue)
        #expect(response.headers["location"] == "\(server.baseURL)/v1/portgroups/\(uuid)")
        #expect(created["address"] == "52:54:00:aa:00:01")
        #expect(created["mode"] == "active-backup", "the default mode")
        #expect(created["standalone_ports_supported"] == true)
        #expect(created["properties"] == ["miimon": "100"])
        #expect(created["internal_info"] == .object([:]))
        #expect(created["ports"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/portgroups/\(uuid)/ports"))

        let list = try await server.request("GET", "/v1/portgroups").json()
        let summary = try #require(list["portgroups"]?.arrayValue?.first?.objectValue)
        #expect(Set(summary.keys) == ["uuid", "address", "name", "links"])
        let detail = try await server.request("GET", "/v1/portgroups/detail").json()
        #expect(detail["portgroups"]?.arrayValue?.first?["node_uuid"] == .string(nodeUUID))
        let byNode = try await server.request("GET", "/v1/nodes/pg-node/portgroups").json()
        #expect(byNode["portgroups"]?.arrayValue?.count == 1)
        let byNodeDetail = try await server.request("GET", "/v1/nodes/pg-node/portgroups/detail").json()
        #expect(byNodeDetail["portgroups"]?.arrayValue?.first?["mode"] == "active-backup")
        let byAddress = try await server.request("GET", "/v1/portgroups?address=52:54:00:aa:00:01").json()
        #expect(byAddress["portgroups"]?.arrayValue?.count == 1)

        let byName = try await server.request("GET", "/v1/portgroups/bond0")
        #expect(byName.status == 200)
        #expect(try byName.json() == created)

        let patched = try await server.request("PATCH", "/v1/portgroups/bond0", json: [
            ["op": "replace", "path": "/name", "value": "bond1"],
            ["op": "replace", "path": "/mode", "value": "802.3ad"],
            ["op": "add", "path": "/extra/note", "value": "lacp"],
        ])
        #expect(patched.status == 200)
        let updated = try patched.json()
        #expect(updated["name"] == "bond1")
        #expect(updated["mode"] == "802.3ad")
        #expect(updated["extra"] == ["note": "lacp"])
        #expect(try await server.request("GET", "/v1/portgroups/bond0").status == 404)

        // A portgroup with member ports cannot be deleted.
        let port = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": .string(nodeUUID), "address": "52:54:00:aa:00:02", "portgroup_uuid": .string(uuid)])
        #expect(port.status == 201)
        let notEmpty = try await server.request("DELETE", "/v1/portgroups/\(uuid)")
        #expect(notEmpty.status == 400 || notEmpty.status == 409)
        #expect(try notEmpty.faultString().contains("contains ports"))
        #expect(try await server.request("DELETE", "/v1/ports/\(try port.json()["uuid"]!.stringValue!)").status == 204)
        #expect(try await server.request("DELETE", "/v1/portgroups/bond1").status == 204)
        #expect(try await server.request("GET", "/v1/portgroups/\(uuid)").status == 404)
    }

    @Test func microversionGating() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let nodeUUID = node["uuid"]!
        #expect(try await server.request("GET", "/v1/portgroups", version: "1.22").status == 404)
        #expect(try await server.request("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID], version: "1.22").status == 404)
        #expect(try await server.request("GET", "/v1/nodes/\(nodeUUID.stringValue!)/portgroups", version: "1.23").status == 404)

        let old = try await server.request("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "name": "pg-old"], version: "1.23")
        #expect(old.status == 201)
        let oldDocument = try old.json()
        #expect(oldDocument["mode"] == nil && oldDocument["properties"] == nil)
        let v26 = try await server.request("GET", "/v1/portgroups/pg-old", version: "1.26").json()
        #expect(v26["mode"] == "active-backup")
        let withMode = try await server.request(
            "POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "mode": "balance-rr"], version: "1.25")
        #expect(withMode.status == 406)
        #expect(try await server.request("GET", "/v1/portgroups/pg-old?fields=mode", version: "1.25").status == 406)
    }

    @Test func badInputIsRefused() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let nodeUUID = node["uuid"]!
        let first = try await server.request("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "name": "pg1", "address": "52:54:00:bb:00:01"])
        #expect(first.status == 201)

        func expectError(_ method: String, _ path: String, json: JSONValue? = nil, status: Int, containing text: String) async throws {
            let response = try await server.request(method, path, json: json)
            #expect(response.status == status, "\(method) \(path): \(response.text)")
            let fault = try response.faultString()
            #expect(fault.contains(text), "\(method) \(path): \(fault)")
        }

        try await expectError("POST", "/v1/portgroups", json: ["name": "x"], status: 400, containing: "'node_uuid' is a required property")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "name": "bad name"],
                              status: 400, containing: "Cannot create portgroup with invalid name 'bad name'")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "address": "zz"],
                              status: 400, containing: "Expected valid MAC address for address: zz")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "ports": []],
                              status: 400, containing: "Additional properties are not allowed ('ports' was unexpected)")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "name": "pg1"],
                              status: 409, containing: "A portgroup with name pg1 already exists.")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "address": "52:54:00:BB:00:01"],
                              status: 409, containing: "A portgroup with MAC address 52:54:00:bb:00:01 already exists.")
        try await expectError("POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "standalone_ports_supported": 3],
                              status: 400, containing: "is not of type")
        try await expectError("GET", "/v1/portgroups/bad%20name", status: 400, containing: "Expected UUID or name for portgroup")
        try await expectError("GET", "/v1/portgroups/missing", status: 404, containing: "Portgroup missing could not be found.")
        try await expectError("PATCH", "/v1/portgroups/pg1", json: [["op": "replace", "path": "/name", "value": "bad name"]],
                              status: 400, containing: "Portgroup pg1: Cannot change name to invalid name 'bad name'")
        try await expectError("PATCH", "/v1/portgroups/pg1", json: [["op": "remove", "path": "/mode"]],
                              status: 400, containing: "'mode' is a mandatory attribute and can not be removed")
        try await expectError("PATCH", "/v1/portgroups/pg1", json: [["op": "replace", "path": "/internal_info", "value": [:]]],
                              status: 400, containing: "Cannot patch /internal_info.")
        try await expectError("GET", "/v1/portgroups?node=\(nodeUUID.stringValue!)&address=52:54:00:bb:00:01",
                              status: 400, containing: "simultaneously is not supported")
    }
}
