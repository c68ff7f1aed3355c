import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

extension IronicAPI {
    func registerNodeActionRoutes(_ router: inout APIRouter) {
        router.add(.get, "nodes/:node/states") { try await states($0) }
        router.add(.put, "nodes/:node/states/power") { try await setPower($0) }
        router.add(.put, "nodes/:node/states/provision") { try await setProvision($0) }
        router.add(.get, "nodes/:node/states/console") { try await consoleState($0) }
        router.add(.put, "nodes/:node/states/console") { try await setConsole($0) }
        router.add(.get, "nodes/:node/console/log") { try await consoleLog($0) }
        router.add(.put, "nodes/:node/maintenance") { try await setMaintenance($0, true) }
        router.add(.delete, "nodes/:node/maintenance") { try await setMaintenance($0, false) }
        router.add(.get, "nodes/:node/management/boot_device") { try await bootDevice($0) }
        router.add(.put, "nodes/:node/management/boot_device") { try await setBootDevice($0) }
        router.add(.get, "nodes/:node/management/boot_device/supported") { try await supportedBootDevices($0) }
        router.add(.put, "nodes/:node/management/inject_nmi") { try await injectNMI($0) }
        router.add(.get, "nodes/:node/validate") { try await validate($0) }
        router.add(.get, "nodes/:node/traits") { try await traits($0) }
        router.add(.put, "nodes/:node/traits") { try await setTraits($0) }
        router.add(.delete, "nodes/:node/traits") { try await removeTraits($0, trait: nil) }
        router.add(.put, "nodes/:node/traits/:trait") { try await addTrait($0) }
        router.add(.delete, "nodes/:node/traits/:trait") { try await removeTraits($0, trait: $0.parameter("trait")) }
        router.add(.get, "nodes/:node/vifs") { try await vifs($0) }
        router.add(.post, "nodes/:node/vifs") { try await attachVIF($0) }
        router.add(.delete, "nodes/:node/vifs/:vif") { try await detachVIF($0) }
        router.add(.get, "nodes/:node/history") { try await history($0) }
        router.add(.get, "nodes/:node/history/:event") { try await historyEvent($0) }
        router.add(.get, "nodes/:node/vendor_passthru/methods") { try await vendorMethods($0) }
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] {
            router.add(method, "nodes/:node/vendor_passthru") { try await vendorPassthru($0) }
        }
    }

    private func requireVersion(_ request: APIRequest, _ minor: Int) throws(IronicError) {
        guard request.allows(minor) else { throw .notFound() }
    }

    private func statesLocation(_ request: APIRequest, _ node: Node, suffix: String = "") -> String {
        "\(request.baseURL)/v1/nodes/\(node.uuid)/states\(suffix)"
    }

    // MARK: States

    func states(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        var states: [String: JSONValue] = [
            "console_enabled": .bool(node.consoleEnabled),
            "last_error": .optional(node.lastError),
            "power_state": .optional(node.powerState?.rawValue),
            "provision_state": NodeRenderer.provisionState(node.provisionState, request),
            "target_power_state": .optional(node.targetPowerState?.rawValue),
            "target_provision_state": .optional(node.targetProvisionState?.rawValue),
            "provision_updated_at": IronicDate.json(node.provisionUpdatedAt),
        ]
        if request.allows(12) {
            states["raid_config"] = .object(node.raidConfig)
            states["target_raid_config"] = .object(node.targetRAIDConfig)
        }
        if request.allows(75) {
            states["boot_mode"] = .optional(node.bootMode)
            states["secure_boot"] = .optional(node.secureBoot)
        }
        return APIResponse.json(.object(states))
    }

    func setPower(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        for key in body.keys where key != "target" && key != "timeout" {
            throw IronicError.badRequest("Unknown argument: \"\(key)\"")
        }
        guard let targetName = body["target"]?.stringValue else {
            throw IronicError.badRequest("Invalid input for field/attribute target. Value: \(body["target"]?.serialized() ?? "None"). Mandatory field missing.")
        }
        guard let target = PowerState(rawValue: targetName), let minimum = target.minimumAPIMinorAsTarget else {
            throw IronicError.badRequest("Invalid state '\(targetName)' requested for node \(node.uuid)")
        }
        guard request.allows(minimum) else { throw IronicError.notAcceptable("Request not acceptable.") }
        var timeout: Int?
        if let value = body["timeout"], value != .null {
            guard request.allows(27) else { throw IronicError.notAcceptable("Request not acceptable.") }
            guard let seconds = value.intValue, seconds >= 1 else {
                throw IronicError.badRequest("Invalid timeout value \(value.serialized()). Timeout must be a positive integer.")
            }
            timeout = seconds
        }
        if node.provisionState == .adopting || node.provisionState == .verifying {
            throw IronicError.invalidState("Can not change power state of node \(node.uuid) while it is in state \(node.provisionState.rawValue).")
        }
        try await conductor.changePowerState(
            ChangePowerStateRequest(context: request.context, nodeUUID: node.uuid, target: target, timeoutSeconds: timeout))
        return APIResponse.accepted(location: statesLocation(request, node))
    }

    func setProvision(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        let known: Set<String> = ["target", "configdrive", "clean_steps", "deploy_steps", "service_steps", "rescue_password", "disable_ramdisk"]
        for key in body.keys where !known.contains(key) {
            throw IronicError.badRequest("Unknown argument: \"\(key)\"")
        }
        guard let targetName = body["target"]?.stringValue else {
            throw IronicError.badRequest("Invalid input for field/attribute target. Value: \(body["target"]?.serialized() ?? "None"). Mandatory field missing.")
        }
        guard let verb = ProvisionVerb(rawValue: targetName) else {
            throw IronicError.badRequest("The requested action \"\(targetName)\" could not be understood.")
        }
        guard request.allows(verb.minimumAPIMinor(from: node.provisionState)) else {
            throw IronicError.notAcceptable("Request not acceptable.")
        }
        func arrayArgument(_ name: String, minor: Int) throws(IronicError) -> [JSONValue]? {
            guard let value = body[name], value != .null else { return nil }
            guard request.allows(minor) else { throw .notAcceptable("Request not acceptable.") }
            guard let array = value.arrayValue else { throw .badRequest("Invalid \(name): expected a list of steps, got \(value.typeName).") }
            return array
        }
        let cleanSteps = try arrayArgument("clean_steps", minor: 15)
        let deploySteps = try arrayArgument("deploy_steps", minor: 69)
        if cleanSteps != nil, verb != .clean {
            throw IronicError.badRequest("\"clean_steps\" is only valid when setting target provision state to clean")
        }
        if deploySteps != nil, ![.active, .deploy, .rebuild].contains(verb) {
            throw IronicError.badRequest("\"deploy_steps\" is only valid when setting target provision state to active or rebuild")
        }
        var configdrive: JSONValue?
        if let value = body["configdrive"], value != .null {
            guard [.active, .deploy, .rebuild].contains(verb) else {
                throw IronicError.badRequest("Adding a config drive is only supported when setting provision state to active or rebuild")
            }
            if value.objectValue != nil, !request.allows(56) { throw IronicError.notAcceptable("Request not acceptable.") }
            guard value.stringValue != nil || value.objectValue != nil else {
                throw IronicError.badRequest("Invalid configdrive: expected a string or an object.")
            }
            if let contents = value.objectValue, let problem = ConfigDriveContents.problem(in: contents) {
                throw IronicError.badRequest("Invalid configdrive: \(problem)")
            }
            configdrive = value
        }
        var rescuePassword: String?
        if let value = body["rescue_password"], value != .null {
            guard verb == .rescue else {
                throw IronicError.badRequest("\"rescue_password\" is only valid when setting target provision state to rescue")
            }
            guard let password = value.stringValue else { throw IronicError.badRequest("Invalid rescue_password: expected a string.") }
            rescuePassword = password
        }
        if verb == .rescue, (rescuePassword ?? "").isEmpty {
            throw IronicError.badRequest("A non-empty \"rescue_password\" is required when setting target provision state to rescue")
        }
        var disableRamdisk: Bool?
        if let value = body["disable_ramdisk"], value != .null {
            guard request.allows(70) else { throw IronicError.notAcceptable("Request not acceptable.") }
            disableRamdisk = try value.flexibleBool(field: "disable_ramdisk")
        }
        try await conductor.doProvisioningAction(
            ProvisioningActionRequest(
                context: request.context, nodeUUID: node.uuid, verb: verb, configdrive: configdrive,
                cleanSteps: cleanSteps, deploySteps: deploySteps, rescuePassword: rescuePassword,
                disableRamdisk: disableRamdisk))
        return APIResponse.accepted(location: statesLocation(request, node))
    }

    // MARK: Console

    /// `GET /v1/nodes/{node}/console/log` (an extension beyond Ironic): the console output the
    /// proxy buffered, as `text/plain`, readable with nobody attached.
    func consoleLog(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let log = try await conductor.consoleLog(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: log.bytes)))
    }

    func consoleState(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        var info: JSONValue = .null
        var enabled = false
        do {
            let console = try await conductor.consoleInformation(NodeRequest(context: request.context, nodeUUID: node.uuid))
            info = ["type": .string(console.type), "url": .string(console.url)]
            enabled = true
        } catch let error as IronicError where error.code == "NodeConsoleNotEnabled" {
            enabled = false
        }
        return APIResponse.json(["console_enabled": .bool(enabled), "console_info": info])
    }

    func setConsole(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        guard let raw = body["enabled"] else {
            throw IronicError.badRequest("Invalid input for field/attribute enabled. Value: None. Mandatory field missing.")
        }
        guard let enabled = try raw.flexibleBool(field: "enabled") else {
            throw IronicError.badRequest("Invalid input for field/attribute enabled. Value: null. Expected a Boolean.")
        }
        try await conductor.setConsoleMode(SetConsoleModeRequest(context: request.context, nodeUUID: node.uuid, enabled: enabled))
        return APIResponse.accepted(location: statesLocation(request, node, suffix: "/console"))
    }

    // MARK: Maintenance

    func setMaintenance(_ request: APIRequest, _ on: Bool) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        var reason: String?
        if on {
            if let value = request.query["reason"] { reason = value }
            if request.hasBody {
                let body = try request.jsonObject()
                for key in body.keys where key != "reason" { throw IronicError.badRequest("Unknown argument: \"\(key)\"") }
                if let value = body["reason"], value != .null {
                    guard let text = value.stringValue else { throw IronicError.badRequest("Invalid reason: expected a string.") }
                    reason = text
                }
            }
        }
        _ = try await conductor.setMaintenance(
            SetMaintenanceRequest(context: request.context, nodeUUID: node.uuid, maintenance: on, reason: reason))
        return Response(status: .accepted)
    }

    // MARK: Management

    func bootDevice(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let state = try await conductor.bootDevice(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return APIResponse.json(["boot_device": .optional(state.bootDevice?.rawValue), "persistent": .optional(state.persistent)])
    }

    func setBootDevice(_ request: APIRequest) async throws -> Response {
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        guard let name = body["boot_device"]?.stringValue else {
            throw IronicError.badRequest("Invalid input for field/attribute boot_device. Value: None. Mandatory field missing.")
        }
        guard let device = BootDevice(rawValue: name) else {
            throw IronicError.invalidParameterValue("Invalid boot device \(name) specified.")
        }
        let persistent = try (body["persistent"] ?? request.query["persistent"].map(JSONValue.string))?.flexibleBool(field: "persistent") ?? false
        try await conductor.setBootDevice(
            SetBootDeviceRequest(context: request.context, nodeUUID: node.uuid, device: device, persistent: persistent))
        return APIResponse.noContent()
    }

    func supportedBootDevices(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let devices = try await conductor.supportedBootDevices(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return APIResponse.json(["supported_boot_devices": .array(devices.map { .string($0.rawValue) })])
    }

    func injectNMI(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 29)
        let node = try await node(request.parameter("node"), request)
        try await conductor.injectNMI(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return APIResponse.noContent()
    }

    func validate(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let results = try await conductor.validateDriverInterfaces(NodeRequest(context: request.context, nodeUUID: node.uuid))
        var document: [String: JSONValue] = [:]
        for (kind, result) in results where kind.minimumAPIMinor <= 31 || request.allows(kind.minimumAPIMinor) {
            var entry: [String: JSONValue] = ["result": .optional(result.result)]
            if let reason = result.reason { entry["reason"] = .string(reason) }
            document[kind.rawValue] = .object(entry)
        }
        return APIResponse.json(.object(document))
    }

    // MARK: Traits

    static func checkTrait(_ trait: String) throws(IronicError) {
        let valid = !trait.isEmpty && trait.count <= 255
            && trait.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            && !(trait.first!.isNumber)
        guard valid else {
            throw .badRequest("Invalid trait '\(trait)': traits are upper-case names of letters, digits and '_' (custom traits start with CUSTOM_), at most 255 characters.")
        }
    }

    func traits(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 37)
        let node = try await node(request.parameter("node"), request)
        return APIResponse.json(["traits": .array(node.traits.map(JSONValue.string))])
    }

    func setTraits(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 37)
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        guard let list = body["traits"]?.arrayValue, body.count == 1 else {
            throw IronicError.badRequest("Invalid request body: expected {\"traits\": [...]}.")
        }
        var traits: [String] = []
        for item in list {
            guard let trait = item.stringValue else { throw IronicError.badRequest("Invalid trait \(item.serialized()): expected a string.") }
            try Self.checkTrait(trait)
            traits.append(trait)
        }
        try await conductor.setTraits(SetTraitsRequest(context: request.context, nodeUUID: node.uuid, traits: traits, replace: true))
        return APIResponse.noContent()
    }

    func addTrait(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 37)
        let trait = request.parameter("trait")
        try Self.checkTrait(trait)
        let node = try await node(request.parameter("node"), request)
        try await conductor.setTraits(SetTraitsRequest(context: request.context, nodeUUID: node.uuid, traits: [trait], replace: false))
        var headers = HTTPFields()
        headers[.location] = "\(request.baseURL)/v1/nodes/\(node.uuid)/traits/\(trait)"
        return Response(status: .noContent, headers: headers)
    }

    func removeTraits(_ request: APIRequest, trait: String?) async throws -> Response {
        try requireVersion(request, 37)
        let node = try await node(request.parameter("node"), request)
        try await conductor.removeTraits(RemoveTraitsRequest(context: request.context, nodeUUID: node.uuid, trait: trait))
        return APIResponse.noContent()
    }

    // MARK: VIFs

    func vifs(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 28)
        let node = try await node(request.parameter("node"), request)
        let vifs = try await conductor.listVIFs(NodeRequest(context: request.context, nodeUUID: node.uuid))
        return APIResponse.json(["vifs": .array(vifs.map { ["id": .string($0)] })])
    }

    func attachVIF(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 28)
        let body = try request.jsonObject()
        let node = try await node(request.parameter("node"), request)
        guard let id = body["id"]?.stringValue, !id.isEmpty else {
            throw IronicError.badRequest("Invalid input for field/attribute id. Value: None. Mandatory field missing.")
        }
        let portUUID = body["port_uuid"]?.stringValue
        let portgroupUUID = body["portgroup_uuid"]?.stringValue
        if (portUUID != nil || portgroupUUID != nil), !request.allows(67) { throw IronicError.notAcceptable("Request not acceptable.") }
        if portUUID != nil, portgroupUUID != nil {
            throw IronicError.badRequest("Cannot specify both port_uuid and portgroup_uuid")
        }
        try await conductor.attachVIF(
            VIFRequest(context: request.context, nodeUUID: node.uuid, vifID: id, portUUID: portUUID?.lowercased(), portgroupUUID: portgroupUUID?.lowercased()))
        return APIResponse.noContent()
    }

    func detachVIF(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 28)
        let node = try await node(request.parameter("node"), request)
        try await conductor.detachVIF(VIFRequest(context: request.context, nodeUUID: node.uuid, vifID: request.parameter("vif")))
        return APIResponse.noContent()
    }

    // MARK: History

    private func renderHistory(_ event: NodeHistoryEvent, _ request: APIRequest, detail: Bool) -> JSONValue {
        var entry: [String: JSONValue] = [
            "uuid": .string(event.uuid), "created_at": .string(IronicDate.format(event.createdAt)),
            "severity": .string(event.severity.rawValue),
        ]
        if detail {
            entry["event"] = .string(event.event)
            entry["event_type"] = .string(event.eventType.rawValue)
            entry["conductor"] = .optional(event.conductor)
            entry["user"] = .optional(event.user)
        } else {
            entry["event"] = .string(event.event.count > 255 ? String(event.event.prefix(251)) + "..." : event.event)
        }
        entry["links"] = Links.make(request.baseURL, "nodes", "\(event.nodeUUID)/history/\(event.uuid)")
        return .object(entry)
    }

    func history(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 78)
        let node = try await node(request.parameter("node"), request)
        let detail = try request.boolQuery("detail") ?? false
        let paging = try Pagination(request, maxLimit: config.maxLimit, sortKeys: ["id"])
        let events = try await store.history(nodeUUID: node.uuid, page: paging.page)
        let items = events.map { renderHistory($0, request, detail: detail) }
        return APIResponse.json(
            paging.collection("history", items, request: request, resource: "nodes/\(node.uuid)/history", lastUUID: events.last?.uuid))
    }

    func historyEvent(_ request: APIRequest) async throws -> Response {
        try requireVersion(request, 78)
        let node = try await node(request.parameter("node"), request)
        let id = request.parameter("event")
        guard UUIDText.isValid(id) else { throw IronicError.invalidUUID(id) }
        let event = try await store.historyEvent(nodeUUID: node.uuid, uuid: id.lowercased())
        return APIResponse.json(renderHistory(event, request, detail: true))
    }

    // MARK: Vendor passthru

    func vendorMethods(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        let driver = try registry.driver(for: node)
        guard let vendor = driver.vendor else { return APIResponse.json([:]) }
        var methods: [String: JSONValue] = [:]
        for (name, route) in vendor.routes {
            methods[name] = [
                "http_methods": .array(route.httpMethods.map(JSONValue.string)), "async": .bool(route.async),
                "description": .string(route.description), "attach": .bool(route.attach),
                "require_exclusive_lock": true,
            ]
        }
        return APIResponse.json(.object(methods))
    }

    func vendorPassthru(_ request: APIRequest) async throws -> Response {
        let node = try await node(request.parameter("node"), request)
        guard let method = request.query["method"], !method.isEmpty else {
            throw IronicError.badRequest("Method not specified")
        }
        let body = request.hasBody ? try request.jsonBody() : nil
        let reply = try await conductor.vendorPassthru(
            VendorPassthruRequest(context: request.context, nodeUUID: node.uuid, method: method,
                                  httpMethod: request.method.rawValue, body: body))
        let status: HTTPResponse.Status = reply.async ? .accepted : .ok
        return APIResponse.json(reply.body ?? .null, status: status)
    }
}
