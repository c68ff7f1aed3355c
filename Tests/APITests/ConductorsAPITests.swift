import Core
import Foundation
import IronicTesting
import Testing

@Suite("Conductors")
struct ConductorsAPITests {
    @Test func listAndShowTheLiveConductor() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let list = try await server.request("GET", "/v1/conductors").json()
        let conductors = try #require(list["conductors"]?.arrayValue)
        #expect(conductors.count == 1)
        let summary = try #require(conductors.first?.objectValue)
        #expect(Set(summary.keys) == ["hostname", "conductor_group", "alive", "links"])
        #expect(summary["alive"] == true)
        #expect(summary["conductor_group"] == "")
        let hostname = try #require(summary["hostname"]?.stringValue)
        #expect(hostname.hasPrefix("test-conductor-"))
        #expect(summary["links"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/conductors/\(hostname)"))

        let detail = try await server.request("GET", "/v1/conductors?detail=true").json()
        let detailed = try #require(detail["conductors"]?.arrayValue?.first)
        #expect(detailed["drivers"] == ["fake-hardware", "ipmi"])
        #expect(detailed["created_at"]?.stringValue != nil)
        #expect(detailed["updated_at"]?.stringValue != nil)

        let shown = try await server.request("GET", "/v1/conductors/\(hostname)")
        #expect(shown.status == 200)
        #expect(try shown.json()["drivers"] == ["fake-hardware", "ipmi"])
        #expect(try shown.json()["alive"] == true)
        let selected = try await server.request("GET", "/v1/conductors/\(hostname)?fields=hostname,alive").json()
        #expect(Set(selected.objectValue!.keys) == ["hostname", "alive", "links"])

        let paged = try await server.request("GET", "/v1/conductors?limit=1").json()
        #expect(paged["next"]?.stringValue == "\(server.baseURL)/v1/conductors?limit=1&marker=\(hostname)")
        let after = try await server.request("GET", "/v1/conductors?limit=1&marker=\(hostname)").json()
        #expect(after["conductors"] == .array([]))
    }

    @Test func gatingAndErrors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        #expect(try await server.request("GET", "/v1/conductors", version: "1.48").status == 404)
        let missing = try await server.request("GET", "/v1/conductors/no-such-host")
        #expect(missing.status == 404)
        #expect(try missing.faultString() == "Conductor no-such-host could not be found.")
        #expect(try await server.request("GET", "/v1/conductors?fields=bogus").status == 400)
        #expect(try await server.request("GET", "/v1/conductors?sort_key=alive").status == 400)
        #expect(try await server.request("GET", "/v1/conductors?detail=true&fields=hostname").status == 400)
        #expect(try await server.request("GET", "/v1/conductors?limit=-1").status == 400)
    }
}
