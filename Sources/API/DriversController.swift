import Core
import Foundation
import HTTPTypes
import Hummingbird
import Store

extension IronicAPI {
    func registerDriverRoutes(_ router: inout APIRouter) {
        router.add(.get, "drivers") { try await listDrivers($0) }
        router.add(.get, "drivers/:driver") { try await showDriver($0) }
        router.add(.get, "drivers/:driver/properties") { try await driverProperties($0) }
        router.add(.get, "drivers/:driver/raid/logical_disk_properties") { try await driverRAIDProperties($0) }
    }

    /// A hardware type as the live conductors serve it: who serves it and, merged over them,
    /// which interfaces are enabled and which is the default.
    struct ServedHardwareType {
        let name: String
        /// Hostnames, sorted.
        var hosts: [String]
        /// Enabled implementations per kind, in order of first appearance.
        var enabled: [InterfaceKind: [String]]
        var defaults: [InterfaceKind: String]
    }

    /// Hardware types of every live conductor, by name.
    func servedHardwareTypes() async throws -> [ServedHardwareType] {
        var served: [String: ServedHardwareType] = [:]
        for conductor in try await store.conductors() where conductor.isAlive(timeout: heartbeatTimeout) {
            for registration in conductor.hardwareTypes {
                var entry = served[registration.hardwareType]
                    ?? ServedHardwareType(name: registration.hardwareType, hosts: [], enabled: [:], defaults: [:])
                if !entry.hosts.contains(conductor.hostname) { entry.hosts.append(conductor.hostname) }
                for (kind, interfaces) in registration.interfaces {
                    var names = entry.enabled[kind] ?? []
                    for name in interfaces.enabled where !names.contains(name) { names.append(name) }
                    entry.enabled[kind] = names
                    if entry.defaults[kind] == nil, let defaultName = interfaces.defaultName {
                        entry.defaults[kind] = defaultName
                    }
                }
                served[registration.hardwareType] = entry
            }
        }
        return served.values.map { entry in
            var sorted = entry
            sorted.hosts.sort()
            return sorted
        }.sorted { $0.name < $1.name }
    }

    /// A hardware type a live conductor serves, or 404 `DriverNotFound`.
    func servedHardwareType(_ name: String) async throws -> ServedHardwareType {
        guard let served = try await servedHardwareTypes().first(where: { $0.name == name }) else {
            throw IronicError.driverNotFound(name)
        }
        return served
    }

    /// The first version showing a kind in a driver document: 1.30 brought the interface
    /// fields, later kinds came with their node fields.
    static func driverFieldMinor(_ kind: InterfaceKind) -> Int {
        switch kind {
        case .storage, .rescue, .bios, .firmware: kind.minimumAPIMinor
        default: 30
        }
    }

    func renderDriver(_ driver: ServedHardwareType, detail: Bool, _ request: APIRequest) -> [String: JSONValue] {
        var document: [String: JSONValue] = [
            "name": .string(driver.name),
            "hosts": .array(driver.hosts.map(JSONValue.string)),
            "links": Links.make(request.baseURL, "drivers", driver.name),
        ]
        if request.allows(14) {
            document["properties"] = Links.make(request.baseURL, "drivers", "\(driver.name)/properties")
        }
        if request.allows(30) {
            document["type"] = "dynamic"
            if detail {
                for kind in InterfaceKind.allCases where request.allows(Self.driverFieldMinor(kind)) {
                    document["default_\(kind.rawValue)_interface"] = .optional(driver.defaults[kind])
                    document["enabled_\(kind.rawValue)_interfaces"] = .array((driver.enabled[kind] ?? []).map(JSONValue.string))
                }
            }
        }
        return document
    }

    /// `fields=` for drivers (1.77): checked against the document it selects from.
    private func driverFields(_ request: APIRequest) throws(IronicError) -> [String]? {
        guard let raw = request.query["fields"] else { return nil }
        guard request.allows(77) else { throw .notAcceptable("Request not acceptable.") }
        return raw.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func select(_ document: [String: JSONValue], fields: [String]?) throws(IronicError) -> JSONValue {
        guard let fields else { return .object(document) }
        let invalid = fields.filter { document[$0] == nil }
        guard invalid.isEmpty else {
            throw .invalidParameterValue("Field(s) \"\(invalid.joined(separator: ", "))\" are not valid")
        }
        return .object(document.filter { fields.contains($0.key) || $0.key == "links" })
    }

    private static func minimalVersionError(_ minor: Int) -> IronicError {
        .notAcceptable("Request not acceptable. The minimal required API version should be 1.\(minor)")
    }

    // MARK: Handlers

    func listDrivers(_ request: APIRequest) async throws -> Response {
        let fields = try driverFields(request)
        let detail = try request.boolQuery("detail")
        if fields != nil, detail == true {
            throw IronicError.invalidParameterValue("Can not specify ?detail=True and fields in the same request.")
        }
        if detail != nil, !request.allows(30) { throw Self.minimalVersionError(30) }
        let type = request.query["type"]
        if type != nil, !request.allows(30) { throw Self.minimalVersionError(30) }
        if let type, type != "classic", type != "dynamic" {
            throw IronicError(status: 400, code: "Invalid", message: "\"type\" filter must be one of \"classic\" or \"dynamic\", if specified.")
        }
        // Classic drivers are gone; every hardware type is dynamic.
        let drivers = type == "classic" ? [] : try await servedHardwareTypes()
        var items: [JSONValue] = []
        for driver in drivers {
            items.append(try select(renderDriver(driver, detail: detail ?? false, request), fields: fields))
        }
        return APIResponse.json(["drivers": .array(items)])
    }

    func showDriver(_ request: APIRequest) async throws -> Response {
        let fields = try driverFields(request)
        let driver = try await servedHardwareType(request.parameter("driver"))
        return APIResponse.json(try select(renderDriver(driver, detail: true, request), fields: fields))
    }

    func driverProperties(_ request: APIRequest) async throws -> Response {
        let name = request.parameter("driver")
        _ = try await servedHardwareType(name)
        let properties = try registry.properties(ofHardwareType: name)
        return APIResponse.json(.object(properties.mapValues(JSONValue.string)))
    }

    /// RAID logical disk properties (1.12): none of our RAID interfaces describes any, so a
    /// hardware type with a RAID interface answers `{}`, one without answers 404.
    func driverRAIDProperties(_ request: APIRequest) async throws -> Response {
        guard request.allows(12) else { throw IronicError.notAcceptable("Request not acceptable.") }
        let driver = try await servedHardwareType(request.parameter("driver"))
        guard let raid = driver.defaults[.raid], raid != "no-raid" else {
            throw IronicError(
                status: 404, code: "UnsupportedDriverExtension",
                message: "Driver \(driver.name) does not support raid (disabled or not implemented).")
        }
        return APIResponse.json([:])
    }
}
