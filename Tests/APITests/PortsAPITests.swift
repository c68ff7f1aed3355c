import Core
import Foundation
import IronicTesting
import Testing

@Suite("Ports")
struct PortsAPITests {
    private func createPort(_ server: TestServer, _ body: JSONValue, version: String = "1.78") async throws -> JSONValue {
        let response = try await server.request("POST", "/v1/ports", json: body, version: version)
        guard response.status == 201 else {
            throw TestServerError.unexpected("port create answered \(response.status): \(response.text)")
        }
        return try response.json()
    }

    @Test func createShowListPatchDelete() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "port-node"])
        let nodeUUID = try #require(node["uuid"]?.stringValue)

        let response = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": .string(nodeUUID), "address": "52:54:00:AB:CD:EF", "extra": ["rack": "r1"]])
        #expect(response.status == 201)
        let created = try response.json()
        let uuid = try #require(created["uuid"]?.stringValue)
        #expect(response.headers["location"] == "\(server.baseURL)/v1/ports/\(uuid)")
        #expect(created["address"] == "52:54:00:ab:cd:ef", "MACs are stored lower-case")
        #expect(created["node_uuid"] == .string(nodeUUID))
        #expect(created["pxe_enabled"] == true)
        #expect(created["local_link_connection"] == .object([:]))
        #expect(created["internal_info"] == .object([:]))
        #expect(created["portgroup_uuid"] == .null)
        #expect(created["physical_network"] == .null)
        #expect(created["is_smartnic"] == false)
        #expect(created["updated_at"] == .null)
        #expect(created["links"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/ports/\(uuid)"))

        let list = try await server.request("GET", "/v1/ports").json()
        let summary = try #require(list["ports"]?.arrayValue?.first?.objectValue)
        #expect(Set(summary.keys) == ["uuid", "address", "links"])
        #expect(list["next"] == nil)

        let detail = try await server.request("GET", "/v1/ports/detail").json()
        #expect(detail["ports"]?.arrayValue?.first?["extra"] == ["rack": "r1"])
        let detailQuery = try await server.request("GET", "/v1/ports?detail=true").json()
        #expect(detailQuery["ports"]?.arrayValue?.first?["node_uuid"] == .string(nodeUUID))

        let shown = try await server.request("GET", "/v1/ports/\(uuid)").json()
        #expect(shown == created)
        let selected = try await server.request("GET", "/v1/ports/\(uuid)?fields=address,pxe_enabled").json()
        #expect(Set(selected.objectValue!.keys) == ["address", "pxe_enabled", "links"])

        let patched = try await server.request("PATCH", "/v1/ports/\(uuid)", json: [
            ["op": "add", "path": "/extra/slot", "value": 3],
            ["op": "replace", "path": "/pxe_enabled", "value": false],
            ["op": "replace", "path": "/physical_network", "value": "physnet1"],
            ["op": "replace", "path": "/local_link_connection", "value": ["port_id": "Gig0/1", "switch_id": "AA:BB:CC:DD:EE:FF"]],
        ])
        #expect(patched.status == 200)
        let updated = try patched.json()
        #expect(updated["extra"] == ["rack": "r1", "slot": 3])
        #expect(updated["pxe_enabled"] == false)
        #expect(updated["physical_network"] == "physnet1")
        #expect(updated["local_link_connection"]?["switch_id"] == "aa:bb:cc:dd:ee:ff")
        #expect(updated["updated_at"] != .null)

        let byNode = try await server.request("GET", "/v1/nodes/port-node/ports").json()
        #expect(byNode["ports"]?.arrayValue?.count == 1)
        let byNodeDetail = try await server.request("GET", "/v1/nodes/\(nodeUUID)/ports/detail").json()
        #expect(byNodeDetail["ports"]?.arrayValue?.first?["physical_network"] == "physnet1")
        let filtered = try await server.request("GET", "/v1/ports?node=port-node").json()
        #expect(filtered["ports"]?.arrayValue?.count == 1)
        let byAddress = try await server.request("GET", "/v1/ports?address=52:54:00:AB:CD:EF").json()
        #expect(byAddress["ports"]?.arrayValue?.first?["uuid"] == .string(uuid))
        let noMatch = try await server.request("GET", "/v1/ports?address=52:54:00:00:00:00").json()
        #expect(noMatch["ports"] == .array([]))

        #expect(try await server.request("DELETE", "/v1/ports/\(uuid)").status == 204)
        let gone = try await server.request("GET", "/v1/ports/\(uuid)")
        #expect(gone.status == 404)
        #expect(try gone.fault()["faultstring"] == .string("Port \(uuid) could not be found."))
    }

    @Test func fieldsFollowTheMicroversion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let port = try await createPort(server, ["node_uuid": node["uuid"]!, "address": "52:54:00:00:00:01"])
        let uuid = port["uuid"]!.stringValue!

        let v1 = try await server.request("GET", "/v1/ports/\(uuid)", version: "1.1").json()
        #expect(Set(v1.objectValue!.keys) == ["uuid", "address", "node_uuid", "extra", "created_at", "updated_at", "links"])
        let v19 = try await server.request("GET", "/v1/ports/\(uuid)", version: "1.19").json()
        #expect(v19["internal_info"] != nil && v19["pxe_enabled"] != nil && v19["portgroup_uuid"] == nil)
        let v53 = try await server.request("GET", "/v1/ports/\(uuid)", version: "1.53").json()
        #expect(v53["is_smartnic"] == false && v53["physical_network"] == .null)
        let v52 = try await server.request("GET", "/v1/ports/\(uuid)", version: "1.52").json()
        #expect(v52["is_smartnic"] == nil)

        // Fields newer than the request are refused with 406, in bodies and in `fields`.
        let smartnic = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": node["uuid"]!, "address": "52:54:00:00:00:02", "is_smartnic": false],
            version: "1.52")
        #expect(smartnic.status == 406)
        #expect(try await server.request("GET", "/v1/ports/\(uuid)?fields=physical_network", version: "1.33").status == 406)
        #expect(try await server.request("GET", "/v1/ports/\(uuid)?fields=address", version: "1.7").status == 406)
        #expect(try await server.request("GET", "/v1/ports?detail=true", version: "1.42").status == 400)
        let patch = try await server.request(
            "PATCH", "/v1/ports/\(uuid)", json: [["op": "replace", "path": "/pxe_enabled", "value": false]], version: "1.18")
        #expect(patch.status == 406)
    }

    @Test func badInputIsRefusedWithIronicErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let nodeUUID = node["uuid"]!
        let port = try await createPort(server, ["node_uuid": nodeUUID, "address": "52:54:00:00:00:10"])
        let uuid = port["uuid"]!.stringValue!

        func expectError(_ method: String, _ path: String, json: JSONValue? = nil, raw: String? = nil,
                         status: Int, containing text: String) async throws {
            let response = try await server.request(method, path, json: json, rawBody: raw)
            #expect(response.status == status, "\(method) \(path): \(response.text)")
            let fault = try response.faultString()
            #expect(fault.contains(text), "\(method) \(path): \(fault)")
        }

        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:zz:00:00"],
                              status: 400, containing: "Expected valid MAC address for address: 52:54:00:zz:00:00")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:10"],
                              status: 409, containing: "A port with MAC address 52:54:00:00:00:10 already exists.")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "bogus": 1],
                              status: 400, containing: "Additional properties are not allowed ('bogus' was unexpected)")
        try await expectError("POST", "/v1/ports", json: ["address": "52:54:00:00:00:11"],
                              status: 400, containing: "'node_uuid' is a required property")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID],
                              status: 400, containing: "'address' is a required property")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": "not-a-uuid", "address": "52:54:00:00:00:11"],
                              status: 400, containing: "Expected UUID for node_uuid: not-a-uuid")
        let missingNode = UUID().uuidString.lowercased()
        try await expectError("POST", "/v1/ports", json: ["node_uuid": .string(missingNode), "address": "52:54:00:00:00:11"],
                              status: 400, containing: "Node \(missingNode) could not be found.")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "extra": "x"],
                              status: 400, containing: "is not of type 'object'")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": 5],
                              status: 400, containing: "5 is not of type 'string'")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "pxe_enabled": "maybe"],
                              status: 400, containing: "Invalid pxe_enabled")
        try await expectError("POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "internal_info": [:]],
                              status: 400, containing: "('internal_info' was unexpected)")
        try await expectError("POST", "/v1/ports",
                              json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "local_link_connection": ["port_id": "p1"]],
                              status: 400, containing: "is not valid under any of the given schemas")
        try await expectError("POST", "/v1/ports",
                              json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "local_link_connection": ["port_id": "p1", "switch_id": "nope"]],
                              status: 400, containing: "Expected a MAC address or OpenFlow datapath ID but received nope.")
        try await expectError("POST", "/v1/ports",
                              json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "is_smartnic": true],
                              status: 400, containing: "Smart NIC port must have port_id and hostname")
        try await expectError("POST", "/v1/ports",
                              json: ["node_uuid": nodeUUID, "address": "52:54:00:00:00:11", "physical_network": ""],
                              status: 400, containing: "A non-empty value is required when setting physical_network")
        try await expectError("POST", "/v1/ports", raw: "{\"node_uuid\": ", status: 400, containing: "not valid JSON")
        try await expectError("POST", "/v1/ports", json: ["not", "an", "object"], status: 400, containing: "expected a JSON object")

        try await expectError("GET", "/v1/ports/not-a-uuid", status: 400, containing: "Expected a UUID but received not-a-uuid.")
        try await expectError("DELETE", "/v1/ports/not-a-uuid", status: 400, containing: "Expected a UUID but received not-a-uuid.")
        try await expectError("GET", "/v1/ports?fields=uuid,bogus", status: 400, containing: "Field(s) \"bogus\" are not valid")
        try await expectError("GET", "/v1/ports?address=nope", status: 400, containing: "Expected valid MAC address for address: nope")
        try await expectError("GET", "/v1/ports?node_uuid=nope", status: 400, containing: "Expected UUID for node_uuid: nope")
        try await expectError("GET", "/v1/ports?sort_key=extra", status: 400, containing: "is an invalid field for sorting")
        try await expectError("GET", "/v1/ports?limit=0", status: 400, containing: "Limit must be positive")
        try await expectError("GET", "/v1/ports?node=\(UUID().uuidString.lowercased())", status: 404, containing: "could not be found")

        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "replace", "path": "/internal_info", "value": [:]]],
                              status: 400, containing: "Cannot patch /internal_info. Only the following can be updated:")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "replace", "path": "/uuid", "value": .string(UUID().uuidString)]],
                              status: 400, containing: "Cannot patch /uuid.")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "replace", "path": "/address", "value": "bad"]],
                              status: 400, containing: "Expected valid MAC address for address: bad")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "remove", "path": "/address"]],
                              status: 400, containing: "None is not of type 'string'")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "add", "path": "/bogus", "value": 1]],
                              status: 400, containing: "Cannot patch /bogus.")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: [["op": "remove", "path": "/extra/missing"]],
                              status: 400, containing: "can't remove non-existent object 'missing'")
        try await expectError("PATCH", "/v1/ports/\(uuid)", json: ["op": "remove"], status: 400, containing: "Invalid patch")
        let other = try await createPort(server, ["node_uuid": nodeUUID, "address": "52:54:00:00:00:12"])
        try await expectError("PATCH", "/v1/ports/\(other["uuid"]!.stringValue!)",
                              json: [["op": "replace", "path": "/address", "value": "52:54:00:00:00:10"]],
                              status: 409, containing: "already exists")
    }

    @Test func paginationFollowsNextLinks() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        var created: [String] = []
        for index in 0..<5 {
            let port = try await createPort(server, ["node_uuid": node["uuid"]!, "address": .string("52:54:00:00:01:0\(index)")])
            created.append(port["uuid"]!.stringValue!)
        }
        var seen: [String] = []
        var path = "/v1/ports?limit=2"
        var pages = 0
        while true {
            let page = try await server.request("GET", path).json()
            pages += 1
            seen += (page["ports"]?.arrayValue ?? []).compactMap { $0["uuid"]?.stringValue }
            guard let next = page["next"]?.stringValue else { break }
            #expect(next.hasPrefix("\(server.baseURL)/v1/ports?"))
            #expect(next.contains("limit=2") && next.contains("marker="))
            path = String(next.dropFirst(server.baseURL.count))
            if pages > 5 { break }
        }
        #expect(seen == created)
        #expect(pages == 3)

        let descending = try await server.request("GET", "/v1/ports/detail?sort_key=address&sort_dir=desc&limit=1").json()
        #expect(descending["ports"]?.arrayValue?.first?["address"] == "52:54:00:00:01:04")
        #expect(descending["next"]?.stringValue?.contains("/v1/ports/detail?") == true)
    }

    @Test func portsOfAPortgroup() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let nodeUUID = node["uuid"]!
        let group = try await server.request(
            "POST", "/v1/portgroups", json: ["node_uuid": nodeUUID, "name": "bond0", "standalone_ports_supported": false]).json()
        let groupUUID = group["uuid"]!
        let member = try await createPort(
            server, ["node_uuid": nodeUUID, "address": "52:54:00:00:02:01", "portgroup_uuid": groupUUID, "pxe_enabled": false])
        #expect(member["portgroup_uuid"] == groupUUID)
        _ = try await createPort(server, ["node_uuid": nodeUUID, "address": "52:54:00:00:02:02"])

        let inGroup = try await server.request("GET", "/v1/portgroups/bond0/ports").json()
        #expect(inGroup["ports"]?.arrayValue?.map { $0["uuid"] } == [member["uuid"]])
        let filtered = try await server.request("GET", "/v1/ports?portgroup=bond0").json()
        #expect(filtered["ports"]?.arrayValue?.count == 1)
        #expect(try await server.request("GET", "/v1/portgroups/bond0/ports", version: "1.23").status == 404)
        #expect(try await server.request("GET", "/v1/ports?portgroup=bond0", version: "1.23").status == 406)

        // A portgroup without standalone ports cannot take a PXE-enabled member.
        let conflict = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:02:03", "portgroup_uuid": groupUUID, "pxe_enabled": true])
        #expect(conflict.status == 409)
        let missingGroup = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": nodeUUID, "address": "52:54:00:00:02:03", "portgroup_uuid": .string(UUID().uuidString.lowercased())])
        #expect(missingGroup.status == 400)

        let otherNode = try await server.createNode()
        let wrongNode = try await server.request(
            "POST", "/v1/ports", json: ["node_uuid": otherNode["uuid"]!, "address": "52:54:00:00:02:04", "portgroup_uuid": groupUUID])
        #expect(wrongNode.status == 400)
        #expect(try wrongNode.faultString().contains("different node"))
    }
}
