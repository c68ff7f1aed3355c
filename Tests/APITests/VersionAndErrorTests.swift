import Core
import Foundation
import IronicTesting
import Testing

@Suite("Microversions and error bodies")
struct VersionAndErrorTests {
    @Test func rootDocumentAdvertisesVersionRange() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let root = try await server.request("GET", "/", version: nil)
        #expect(root.status == 200)
        let document = try root.json()
        #expect(document["default_version"]?["min_version"] == "1.1")
        #expect(document["default_version"]?["version"] == "1.78")
        #expect(document["name"] == "OpenStack Ironic API")
    }

    @Test func noHeaderMeansOldestVersion() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1", version: nil)
        #expect(response.status == 200)
        #expect(response.headers["x-openstack-ironic-api-version"] == "1.1")
        #expect(response.headers["x-openstack-ironic-api-minimum-version"] == "1.1")
        #expect(response.headers["x-openstack-ironic-api-maximum-version"] == "1.78")
        #expect(try response.json()["conductors"] == nil, "conductors link appears only from 1.49")
    }

    @Test(arguments: [
        ("X-OpenStack-Ironic-API-Version", "latest", "1.78"),
        ("X-OpenStack-Ironic-API-Version", "1.49", "1.49"),
        ("OpenStack-API-Version", "baremetal 1.46", "1.46"),
        ("OpenStack-API-Version", "baremetal latest", "1.78"),
    ])
    func headersSelectVersion(header: String, value: String, expected: String) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1", version: nil, headers: [header: value])
        #expect(response.status == 200)
        #expect(response.headers["x-openstack-ironic-api-version"] == expected)
        #expect(response.headers["openstack-api-version"] == "baremetal \(expected)")
    }

    @Test(arguments: ["1.0", "1.79", "2.1", "abc", "1.x"])
    func unsupportedVersionsAre406(value: String) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1/nodes", version: value)
        #expect(response.status == 406)
        #expect(try response.fault()["faultcode"] == "Client")
        #expect(response.headers["x-openstack-ironic-api-maximum-version"] == "1.78")
    }

    @Test func errorBodyIsDoubleEncoded() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1/nodes/\(UUID().uuidString.lowercased())")
        #expect(response.status == 404)
        let body = try response.json()
        #expect(body.objectValue?.keys.sorted() == ["error_message"])
        let fault = try response.fault()
        #expect(fault["faultcode"] == "Client")
        #expect(fault["debuginfo"] == .null)
        #expect(fault["faultstring"]?.stringValue?.hasSuffix("could not be found.") == true)
    }

    @Test func unknownPathsAndMethods() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        #expect(try await server.request("GET", "/v1/bogus").status == 404)
        #expect(try await server.request("GET", "/v2").status == 404)
        #expect(try await server.request("PUT", "/v1/nodes").status == 405)
        #expect(try await server.request("GET", "/v1/nodes/n1/states/power").status == 405)
    }

    @Test func responsesCarryARequestID() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1/nodes")
        #expect(response.headers["x-openstack-request-id"]?.hasPrefix("req-") == true)
    }
}
