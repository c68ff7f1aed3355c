import Core
import Foundation
import IronicTesting
import Testing

@Suite("Chassis")
struct ChassisAPITests {
    @Test func createShowListPatchDelete() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("POST", "/v1/chassis", json: ["description": "rack 1", "extra": ["row": "a"]])
        #expect(response.status == 201)
        let created = try response.json()
        let uuid = try #require(created["uuid"]?.stringValue)
        #expect(response.headers["location"] == "\(server.baseURL)/v1/chassis/\(uuid)")
        #expect(Set(created.objectValue!.keys) == ["uuid", "description", "extra", "created_at", "updated_at", "links", "nodes"])
        #expect(created["nodes"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/chassis/\(uuid)/nodes"))

        let list = try await server.request("GET", "/v1/chassis").json()
        let summary = try #require(list["chassis"]?.arrayValue?.first?.objectValue)
        #expect(Set(summary.keys) == ["uuid", "description", "links"])
        let detail = try await server.request("GET", "/v1/chassis/detail").json()
        #expect(detail["chassis"]?.arrayValue?.first?["extra"] == ["row": "a"])
        #expect(try await server.request("GET", "/v1/chassis/\(uuid)").json() == created)
        let selected = try await server.request("GET", "/v1/chassis/\(uuid)?fields=extra").json()
        #expect(Set(selected.objectValue!.keys) == ["extra", "links"])

        let patched = try await server.request("PATCH", "/v1/chassis/\(uuid)", json: [
            ["op": "replace", "path": "/description", "value": "rack 2"],
            ["op": "remove", "path": "/extra/row"],
        ])
        #expect(patched.status == 200)
        #expect(try patched.json()["description"] == "rack 2")
        #expect(try patched.json()["extra"] == .object([:]))

        #expect(try await server.request("DELETE", "/v1/chassis/\(uuid)").status == 204)
        let gone = try await server.request("GET", "/v1/chassis/\(uuid)")
        #expect(gone.status == 404)
        #expect(try gone.faultString() == "Chassis \(uuid) could not be found.")
    }

    @Test func nodesOfAChassis() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let chassis = try await server.request("POST", "/v1/chassis", json: [:]).json()
        let uuid = chassis["uuid"]!.stringValue!
        let node = try await server.createNode(["chassis_uuid": .string(uuid), "name": "in-chassis"])
        _ = try await server.createNode(["name": "elsewhere"])

        let nodes = try await server.request("GET", "/v1/chassis/\(uuid)/nodes").json()
        let items = try #require(nodes["nodes"]?.arrayValue)
        #expect(items.map { $0["uuid"] } == [node["uuid"]])
        #expect(items.first?["driver"] == nil, "the summary view")
        let detail = try await server.request("GET", "/v1/chassis/\(uuid)/nodes/detail").json()
        #expect(detail["nodes"]?.arrayValue?.first?["driver"] == "fake-hardware")

        let notEmpty = try await server.request("DELETE", "/v1/chassis/\(uuid)")
        #expect(notEmpty.status == 400)
        #expect(try notEmpty.fault()["faultstring"] == .string("Cannot complete the requested action because chassis \(uuid) contains nodes."))
        #expect(try await server.request("DELETE", "/v1/nodes/in-chassis").status == 204)
        #expect(try await server.request("DELETE", "/v1/chassis/\(uuid)").status == 204)
    }

    @Test func paginationAndBadInput() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        var created: [String] = []
        for index in 0..<3 {
            let chassis = try await server.request("POST", "/v1/chassis", json: ["description": .string("c\(index)")]).json()
            created.append(chassis["uuid"]!.stringValue!)
        }
        let first = try await server.request("GET", "/v1/chassis?limit=2").json()
        #expect(first["chassis"]?.arrayValue?.compactMap { $0["uuid"]?.stringValue } == Array(created.prefix(2)))
        let next = try #require(first["next"]?.stringValue)
        #expect(next == "\(server.baseURL)/v1/chassis?limit=2&marker=\(created[1])")
        let second = try await server.request("GET", String(next.dropFirst(server.baseURL.count))).json()
        #expect(second["chassis"]?.arrayValue?.compactMap { $0["uuid"]?.stringValue } == [created[2]])
        #expect(second["next"] == nil)

        func expectError(_ method: String, _ path: String, json: JSONValue? = nil, status: Int, containing text: String) async throws {
            let response = try await server.request(method, path, json: json)
            #expect(response.status == status, "\(method) \(path): \(response.text)")
            let fault = try response.faultString()
            #expect(fault.contains(text), "\(method) \(path): \(fault)")
        }
        try await expectError("POST", "/v1/chassis", json: ["name": "x"],
                              status: 400, containing: "Schema error for chassis: Additional properties are not allowed ('name' was unexpected)")
        try await expectError("POST", "/v1/chassis", json: ["description": .string(String(repeating: "d", count: 256))],
                              status: 400, containing: "is too long")
        try await expectError("POST", "/v1/chassis", json: ["uuid": "nope"], status: 400, containing: "Expected UUID for uuid: nope")
        try await expectError("POST", "/v1/chassis", json: ["uuid": .string(created[0])], status: 409, containing: "already exists")
        try await expectError("GET", "/v1/chassis/nope", status: 400, containing: "Expected a UUID but received nope.")
        try await expectError("GET", "/v1/chassis?marker=\(UUID().uuidString.lowercased())", status: 400, containing: "could not be found")
        try await expectError("GET", "/v1/chassis?sort_dir=up", status: 400, containing: "Invalid sort direction: up.")
        try await expectError("PATCH", "/v1/chassis/\(created[0])", json: [["op": "replace", "path": "/uuid", "value": .string(UUID().uuidString)]],
                              status: 400, containing: "Cannot patch /uuid. Only the following can be updated: description, extra")
        try await expectError("PATCH", "/v1/chassis/\(created[0])", json: [["op": "replace", "path": "/description", "value": 5]],
                              status: 400, containing: "5 is not of type 'string', 'null'")
        try await expectError("PATCH", "/v1/chassis/\(created[0])", json: [["op": "move", "path": "/description"]],
                              status: 400, containing: "is not one of")
        try await expectError("DELETE", "/v1/chassis/\(UUID().uuidString.lowercased())", status: 404, containing: "could not be found")
    }
}
