import Core
import Foundation
import IronicTesting
import Testing

@Suite("Nodes")
struct NodesAPITests {
    @Test func createShowListDelete() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let created = try await server.createNode(["name": "node-1", "driver_info": ["ipmi_password": "s3cret", "ipmi_address": "10.0.0.1"]])
        #expect(created["provision_state"] == "enroll")
        #expect(created["power_interface"] == "fake")
        #expect(created["network_interface"] == "noop")
        #expect(created["driver_info"]?["ipmi_password"] == "******", "secrets are masked")
        #expect(created["driver_info"]?["ipmi_address"] == "10.0.0.1")
        let uuid = try #require(created["uuid"]?.stringValue)

        let byName = try await server.request("GET", "/v1/nodes/node-1")
        #expect(byName.status == 200)
        #expect(try byName.json()["uuid"]?.stringValue == uuid)

        let list = try await server.request("GET", "/v1/nodes").json()
        let summary = try #require(list["nodes"]?.arrayValue?.first?.objectValue)
        #expect(Set(summary.keys) == ["uuid", "name", "instance_uuid", "power_state", "provision_state", "maintenance", "links"])

        let detail = try await server.request("GET", "/v1/nodes/detail").json()
        #expect(detail["nodes"]?.arrayValue?.first?["driver"] == "fake-hardware")

        #expect(try await server.request("DELETE", "/v1/nodes/\(uuid)").status == 204)
        #expect(try await server.request("GET", "/v1/nodes/\(uuid)").status == 404)
    }

    @Test func fieldsAreHiddenBelowTheirMicroversion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode()
        let uuid = node["uuid"]!.stringValue!
        let old = try await server.request("GET", "/v1/nodes/\(uuid)", version: "1.1").json()
        #expect(old["name"] == nil)
        #expect(old["driver_internal_info"] == nil)
        #expect(old["power_interface"] == nil)
        #expect(old["provision_state"] == "enroll")
        let v46 = try await server.request("GET", "/v1/nodes/\(uuid)", version: "1.46").json()
        #expect(v46["conductor_group"] == "")
        #expect(v46["owner"] == nil)
        #expect(v46["traits"] == .array([]))
        let latest = try await server.request("GET", "/v1/nodes/\(uuid)").json()
        #expect(latest["conductor"]?.stringValue?.hasPrefix("test-conductor-") == true)
        #expect(latest["network_data"] == .object([:]))
    }

    @Test func oldMicroversionCreatesAvailableNodes() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("POST", "/v1/nodes", json: ["driver": "fake-hardware"], version: "1.10")
        #expect(response.status == 201)
        #expect(try response.json()["provision_state"] == "available")
        let tooNew = try await server.request("POST", "/v1/nodes", json: ["driver": "fake-hardware", "owner": "x"], version: "1.49")
        #expect(tooNew.status == 406)
    }

    @Test func fieldsParameterSelectsFields() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "sel"])
        let one = try await server.request("GET", "/v1/nodes/sel?fields=uuid,provision_state").json()
        #expect(Set(one.objectValue!.keys) == ["uuid", "provision_state", "links"])
        #expect(one["uuid"] == node["uuid"])
        let bad = try await server.request("GET", "/v1/nodes?fields=uuid,bogus")
        #expect(bad.status == 400)
    }

    @Test func filtersAndPagination() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        var uuids: [String] = []
        for index in 0..<5 {
            let node = try await server.createNode(["name": .string("page-\(index)"), "resource_class": index % 2 == 0 ? "even" : "odd"])
            uuids.append(node["uuid"]!.stringValue!)
        }
        let even = try await server.request("GET", "/v1/nodes?resource_class=even").json()
        #expect(even["nodes"]?.arrayValue?.count == 3)
        // `conductor` (1.49): the nodes the hash ring maps to that conductor.
        let host = server.server.config.host
        #expect(try await server.request("GET", "/v1/nodes?conductor=\(host)&resource_class=odd").json()["nodes"]?.arrayValue?.count == 2)
        #expect(try await server.request("GET", "/v1/nodes?conductor=elsewhere").json()["nodes"]?.arrayValue?.count == 0)
        #expect(try await server.request("GET", "/v1/nodes?conductor=\(host)", version: "1.48").status == 406)

        var seen: [String] = []
        var path = "/v1/nodes?limit=2"
        for _ in 0..<5 {
            let page = try await server.request("GET", path).json()
            seen += page["nodes"]!.arrayValue!.map { $0["uuid"]!.stringValue! }
            guard let next = page["next"]?.stringValue else { break }
            #expect(next.contains("limit=2"))
            path = String(next.dropFirst(server.baseURL.count))
        }
        #expect(seen == uuids)

        let descending = try await server.request("GET", "/v1/nodes?sort_key=name&sort_dir=desc").json()
        #expect(descending["nodes"]?.arrayValue?.first?["name"] == "page-4")
        #expect(try await server.request("GET", "/v1/nodes?sort_key=driver_info").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?sort_dir=up").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?limit=0").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?limit=abc").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?marker=not-a-uuid").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?provision_state=bogus").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?maintenance=perhaps").status == 400)
        #expect(try await server.request("GET", "/v1/nodes?fault=bogus").status == 400)
    }

    @Test func patchAppliesJSONPatch() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "patchme", "extra": ["keep": 1]])
        let uuid = node["uuid"]!.stringValue!
        let response = try await server.request("PATCH", "/v1/nodes/\(uuid)", json: [
            ["op": "add", "path": "/extra/foo", "value": "bar"],
            ["op": "replace", "path": "/name", "value": "renamed"],
            ["op": "add", "path": "/properties/cpus", "value": 8],
            ["op": "replace", "path": "/description", "value": "rack 4"],
        ])
        #expect(response.status == 200)
        let patched = try response.json()
        #expect(patched["extra"] == ["keep": 1, "foo": "bar"])
        #expect(patched["name"] == "renamed")
        #expect(patched["properties"]?["cpus"] == 8)
        let removed = try await server.request("PATCH", "/v1/nodes/renamed", json: [["op": "remove", "path": "/extra/keep"]]).json()
        #expect(removed["extra"] == ["foo": "bar"])
        let interface = try await server.request("PATCH", "/v1/nodes/renamed", json: [["op": "replace", "path": "/console_interface", "value": "no-console"]]).json()
        #expect(interface["console_interface"] == "no-console")
    }

    @Test(arguments: [
        ("[{\"op\": \"add\", \"path\": \"/bogus\", \"value\": 1}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/provision_state\", \"value\": \"active\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/traits\", \"value\": []}]", 400),
        ("[{\"op\": \"move\", \"path\": \"/name\", \"from\": \"/x\"}]", 400),
        ("[{\"op\": \"remove\", \"path\": \"/extra/missing\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/driver_info\", \"value\": \"not-an-object\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/power_interface\", \"value\": \"ipmitool\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/driver\", \"value\": \"no-such-driver\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/name\", \"value\": \"bad name!\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/instance_uuid\", \"value\": \"nope\"}]", 400),
        ("[{\"op\": \"replace\", \"path\": \"/maintenance\", \"value\": \"perhaps\"}]", 400),
        ("{\"op\": \"add\"}", 400),
        ("[{\"path\": \"/name\"}]", 400),
        ("not json", 400),
    ])
    func badPatchesAreRejected(patch: String, status: Int) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let node = try await server.createNode(["name": "victim"])
        let before = try await server.request("GET", "/v1/nodes/victim").json()
        let response = try await server.request("PATCH", "/v1/nodes/victim", rawBody: patch)
        #expect(response.status == status, "\(patch) → \(response.text)")
        #expect(try response.fault()["faultcode"] == "Client")
        let after = try await server.request("GET", "/v1/nodes/victim").json()
        #expect(after == before, "a rejected patch changes nothing")
        _ = node
    }

    @Test(arguments: [
        ("{bad json", 400),
        ("[]", 400),
        ("{}", 400),
        ("{\"driver\": 5}", 400),
        ("{\"driver\": \"fake-hardware\", \"bogus\": 1}", 400),
        ("{\"driver\": \"fake-hardware\", \"uuid\": \"not-a-uuid\"}", 400),
        ("{\"driver\": \"fake-hardware\", \"name\": \"has space\"}", 400),
        ("{\"driver\": \"fake-hardware\", \"extra\": []}", 400),
        ("{\"driver\": \"fake-hardware\", \"provision_state\": \"active\"}", 400),
        ("{\"driver\": \"fake-hardware\", \"deploy_interface\": \"anaconda\"}", 400),
        ("{\"driver\": \"nope\"}", 400),
        ("{\"driver\": \"fake-hardware\", \"chassis_uuid\": \"1be26c0b-03f2-4d2e-ae87-c02d7f33c123\"}", 400),
        ("{\"driver\": \"fake-hardware\", \"resource_class\": \"\(String(repeating: "x", count: 81))\"}", 400),
    ])
    func badCreatesAreRejected(body: String, status: Int) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("POST", "/v1/nodes", rawBody: body)
        #expect(response.status == status, "\(body) → \(response.text)")
        #expect(try response.fault()["faultcode"] == "Client")
        let list = try await server.request("GET", "/v1/nodes").json()
        #expect(list["nodes"] == .array([]), "nothing was created")
    }

    @Test func duplicatesConflict() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let first = try await server.createNode(["name": "dup"])
        let sameName = try await server.request("POST", "/v1/nodes", json: ["driver": "fake-hardware", "name": "dup"])
        #expect(sameName.status == 409)
        let sameUUID = try await server.request("POST", "/v1/nodes", json: ["driver": "fake-hardware", "uuid": first["uuid"]!])
        #expect(sameUUID.status == 409)
    }

    @Test func oversizedBodiesAre413() async throws {
        let server = try await TestServer.start { $0.api.maxRequestBodySize = 2048 }
        defer { Task { await server.stop() } }
        let big = "{\"driver\": \"fake-hardware\", \"extra\": {\"blob\": \"\(String(repeating: "a", count: 4096))\"}}"
        let response = try await server.request("POST", "/v1/nodes", rawBody: big)
        #expect(response.status == 413)
        #expect(try response.fault()["faultcode"] == "Client")
    }

    @Test func invalidIdentifiers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        #expect(try await server.request("GET", "/v1/nodes/bad%20name").status == 400)
        #expect(try await server.request("GET", "/v1/nodes/some-name", version: "1.4").status == 400)
        #expect(try await server.request("GET", "/v1/nodes/some-name").status == 404)
    }
}
