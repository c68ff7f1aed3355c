import Core
import Foundation
import IronicTesting
import Testing

@Suite("Drivers")
struct DriversAPITests {
    @Test func listShowsHardwareTypesOfLiveConductors() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let list = try await server.request("GET", "/v1/drivers").json()
        let drivers = try #require(list["drivers"]?.arrayValue)
        let fake = try #require(drivers.first { $0["name"] == "fake-hardware" })
        let hosts = (fake["hosts"]?.arrayValue ?? []).compactMap { $0.stringValue }
        #expect(hosts.count == 1 && hosts[0].hasPrefix("test-conductor-"))
        #expect(fake["type"] == "dynamic")
        #expect(fake["default_power_interface"] == nil, "interfaces only with detail")
        #expect(fake["links"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/drivers/fake-hardware"))
        #expect(fake["properties"]?.arrayValue?.first?["href"] == .string("\(server.baseURL)/v1/drivers/fake-hardware/properties"))

        let detail = try await server.request("GET", "/v1/drivers?detail=true").json()
        let detailed = try #require(detail["drivers"]?.arrayValue?.first { $0["name"] == "fake-hardware" })
        #expect(detailed["default_power_interface"] == "fake")
        #expect(detailed["enabled_power_interfaces"]?.arrayValue?.contains("fake") == true)
        #expect(detailed["default_network_interface"] == "noop")
        #expect(detailed["enabled_bios_interfaces"] != nil)
        #expect(detailed["enabled_firmware_interfaces"] == nil, "firmware came after 1.78")

        let dynamic = try await server.request("GET", "/v1/drivers?type=dynamic").json()
        #expect(dynamic["drivers"]?.arrayValue?.count == drivers.count)
        let classic = try await server.request("GET", "/v1/drivers?type=classic").json()
        #expect(classic["drivers"] == .array([]))
    }

    @Test func showAndProperties() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let shown = try await server.request("GET", "/v1/drivers/fake-hardware")
        #expect(shown.status == 200)
        let driver = try shown.json()
        #expect(driver["name"] == "fake-hardware")
        #expect(driver["default_deploy_interface"] != nil && driver["default_deploy_interface"] != .null)
        #expect(driver["enabled_rescue_interfaces"] != nil)

        let v37 = try await server.request("GET", "/v1/drivers/fake-hardware", version: "1.37").json()
        #expect(v37["enabled_storage_interfaces"] != nil && v37["enabled_rescue_interfaces"] == nil)
        let v29 = try await server.request("GET", "/v1/drivers/fake-hardware", version: "1.29").json()
        #expect(v29["type"] == nil && v29["default_power_interface"] == nil)
        let v13 = try await server.request("GET", "/v1/drivers/fake-hardware", version: "1.13").json()
        #expect(v13["properties"] == nil)

        let selected = try await server.request("GET", "/v1/drivers/fake-hardware?fields=name,hosts").json()
        #expect(Set(selected.objectValue!.keys) == ["name", "hosts", "links"])
        #expect(try await server.request("GET", "/v1/drivers/fake-hardware?fields=name", version: "1.76").status == 406)
        #expect(try await server.request("GET", "/v1/drivers/fake-hardware?fields=bogus").status == 400)

        let properties = try await server.request("GET", "/v1/drivers/fake-hardware/properties")
        #expect(properties.status == 200)
        #expect(try properties.json().objectValue != nil)

        let missing = try await server.request("GET", "/v1/drivers/redfish")
        #expect(missing.status == 404)
        #expect(try missing.fault()["faultstring"] == "Could not find the following driver(s) or hardware type(s): redfish.")
        #expect(try await server.request("GET", "/v1/drivers/redfish/properties").status == 404)
        #expect(try await server.request("GET", "/v1/drivers/fake-hardware/raid/logical_disk_properties", version: "1.11").status == 406)
        let raid = try await server.request("GET", "/v1/drivers/fake-hardware/raid/logical_disk_properties")
        #expect(raid.status == 200 || raid.status == 404)
    }

    @Test func queryParametersAreChecked() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let detailOld = try await server.request("GET", "/v1/drivers?detail=true", version: "1.29")
        #expect(detailOld.status == 406)
        #expect(try detailOld.faultString() == "Request not acceptable. The minimal required API version should be 1.30")
        #expect(try await server.request("GET", "/v1/drivers?type=dynamic", version: "1.29").status == 406)
        let badType = try await server.request("GET", "/v1/drivers?type=modern")
        #expect(badType.status == 400)
        #expect(try badType.faultString() == "\"type\" filter must be one of \"classic\" or \"dynamic\", if specified.")
        #expect(try await server.request("GET", "/v1/drivers?detail=maybe").status == 400)
        #expect(try await server.request("GET", "/v1/drivers?detail=true&fields=name").status == 400)
    }
}
