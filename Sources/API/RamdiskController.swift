import Core
import Foundation
import HTTPTypes
import Hummingbird
import RPC
import Store

/// The endpoints a deploy ramdisk (ironic-python-agent) calls, unauthenticated as in Ironic:
/// `GET /v1/lookup` (1.22), `POST /v1/heartbeat/{node}` (1.22; `agent_version` 1.36,
/// `agent_token` 1.62, `agent_verify_ca` 1.68, `agent_status` 1.72) and
/// `POST /v1/continue_inspection` (1.1 in ironic-inspector's shape, 1.84 in Ironic's).
extension IronicAPI {
    /// The newest microversion of these endpoints (they answer it even though the rest of the
    /// API stops at `APIVersion.maximumMinor`).
    static let ramdiskMaximumMinor = 84

    /// States in which a lookup finds a node (Ironic's `LOOKUP_ALLOWED_STATES`).
    static let lookupAllowedStates: Set<ProvisionState> = [
        .deploying, .deployWait, .cleaning, .cleanWait, .inspecting, .inspectWait, .rescuing, .rescueWait, .serviceWait,
    ]

    /// Fields of the node a lookup returns.
    static let lookupNodeFields = ["uuid", "properties", "instance_info", "driver_internal_info"]

    /// Values `agent_status` may take.
    static let agentStatuses: Set<String> = ["start", "end", "error"]

    func registerRamdiskRoutes(_ router: inout APIRouter) {
        router.add(.get, "lookup", maximumMinor: Self.ramdiskMaximumMinor) { try await lookup($0) }
        router.add(.post, "heartbeat/:node", maximumMinor: Self.ramdiskMaximumMinor) { try await heartbeat($0) }
        router.add(.post, "continue_inspection", maximumMinor: Self.ramdiskMaximumMinor) { try await continueInspection($0) }
    }

    /// 403 when `[api]enable_ramdisk_endpoints` is off, as Ironic's `HTTPForbidden`.
    private func requireRamdiskEndpoints(_ request: APIRequest, path: String) throws(IronicError) {
        guard config.enableRamdiskEndpoints else {
            throw IronicError(status: 403, code: "HTTPForbidden", message: "Access was denied to the following resource: \(path)")
        }
    }

    /// `{"node": {...}, "config": {...}}`: what the agent reads after lookup.
    func lookupDocument(_ node: Node, _ request: APIRequest) -> JSONValue {
        var document: [String: JSONValue] = [
            "uuid": .string(node.uuid),
            "properties": .object(node.properties),
            "instance_info": .object(Secrets.mask(node.instanceInfo)),
            "driver_internal_info": .object(node.driverInternalInfo),
        ]
        document["links"] = Links.make(request.baseURL, "nodes", node.uuid)
        let token = node.driverInternalInfo["agent_secret_token"] ?? .null
        let agentConfig: JSONValue = [
            "metrics": ["backend": "noop", "prepend_host": false, "prepend_uuid": false, "prepend_host_reverse": true, "global_prefix": .null],
            "metrics_statsd": ["statsd_host": "localhost", "statsd_port": 8125],
            "heartbeat_timeout": .int(config.ramdiskHeartbeatTimeout),
            "agent_token": token,
            "agent_token_required": true,
            "agent_md5_checksum_enable": false,
            "disable_deep_image_inspection": false,
            "permitted_image_formats": ["raw", "qcow2", "iso"],
            "agent_skip_bmc_detect": false,
        ]
        return ["node": .object(document), "config": agentConfig]
    }

    // MARK: Handlers

    /// `GET /v1/lookup?addresses=MAC,...&node_uuid=UUID`.
    func lookup(_ request: APIRequest) async throws -> Response {
        try requireRamdiskEndpoints(request, path: "/v1/lookup")
        guard request.allows(22) else { throw IronicError.notFound() }
        let addresses = (request.query["addresses"] ?? "").split(separator: ",").compactMap {
            MACAddress.normalized(String($0).trimmingCharacters(in: .whitespaces))
        }
        let nodeUUID = request.query["node_uuid"]
        if let nodeUUID, !UUIDText.isValid(nodeUUID) { throw IronicError.invalidUUID(nodeUUID) }
        guard !addresses.isEmpty || nodeUUID != nil else {
            throw IronicError(
                status: 400, code: "IncompleteLookup",
                message: "At least one of 'addresses' and 'node_uuid' parameters is required")
        }
        // Unknown nodes and nodes in the wrong state answer the same 404, as in Ironic, so a
        // caller learns nothing about which nodes exist.
        let found: Node
        do {
            if let nodeUUID {
                found = try await store.node(uuid: nodeUUID.lowercased())
            } else {
                found = try await node(byPortAddresses: addresses)
            }
        } catch let error as IronicError where error.status == 404 {
            logger.warning("lookup found no node", metadata: ["addresses": "\(addresses)", "node_uuid": "\(nodeUUID ?? "")"])
            throw IronicError.notFound()
        }
        if config.restrictLookup && !Self.lookupAllowedStates.contains(found.provisionState) {
            logger.warning("lookup refused: node not in a ramdisk state",
                           metadata: ["node": "\(found.uuid)", "provision_state": "\(found.provisionState.rawValue)"])
            throw IronicError.notFound()
        }
        try await requireConductor(for: found)
        let node = request.allows(62)
            ? try await conductor.getNodeWithToken(NodeRequest(context: request.context, nodeUUID: found.uuid))
            : found
        return APIResponse.json(lookupDocument(node, request))
    }

    /// The one node that owns ports with these MAC addresses; 404 when none or several do.
    private func node(byPortAddresses addresses: [String]) async throws -> Node {
        var owners: Set<String> = []
        for address in addresses {
            var query = PortQuery()
            query.address = address
            for port in try await store.ports(query) { owners.insert(port.nodeUUID) }
        }
        guard owners.count == 1, let uuid = owners.first else { throw IronicError.notFound() }
        return try await store.node(uuid: uuid)
    }

    /// `POST /v1/heartbeat/{node}` → 202.
    func heartbeat(_ request: APIRequest) async throws -> Response {
        let ident = request.parameter("node")
        try requireRamdiskEndpoints(request, path: "/v1/heartbeat/\(ident)")
        guard request.allows(22) else { throw IronicError.notFound() }
        let body = request.hasBody ? try request.jsonObject() : [:]
        func text(_ key: String) throws(IronicError) -> String? {
            guard let value = body[key], !value.isNull else { return nil }
            guard let string = value.stringValue else {
                throw .invalidParameterValue("Invalid \(key): expected a string, got \(value.typeName).")
            }
            return string
        }
        let known: Set<String> = ["callback_url", "agent_version", "agent_token", "agent_verify_ca", "agent_status", "agent_status_message"]
        if let unknown = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw IronicError.invalidParameterValue("Unknown argument: \"\(unknown)\"")
        }
        guard let callbackURL = try text("callback_url") else {
            throw IronicError.invalidParameterValue("Missing argument: \"callback_url\"")
        }
        let agentVersion = try text("agent_version")
        let agentToken = try text("agent_token")
        let agentVerifyCA = try text("agent_verify_ca")
        let agentStatus = try text("agent_status")
        let agentStatusMessage = try text("agent_status_message")
        if agentVersion != nil && !request.allows(36) {
            throw IronicError.invalidParameterValue("Field \"agent_version\" not recognised")
        }
        if (agentStatus != nil || agentStatusMessage != nil) && !request.allows(72) {
            throw IronicError.invalidParameterValue("Fields \"agent_status\" and \"agent_status_message\" not recognised.")
        }
        if agentVerifyCA != nil && !request.allows(68) {
            throw IronicError.invalidParameterValue("Field \"agent_verify_ca\" not recognised in this version")
        }
        let node = try await self.node(ident, request)
        guard let parsed = URL(string: callbackURL), let scheme = parsed.scheme, scheme.hasPrefix("http"), parsed.host != nil else {
            throw IronicError.invalidParameterValue("An issue with the supplied \"callback_url\" has been detected.")
        }
        if let recorded = node.driverInternalInfo["agent_url"]?.stringValue, recorded != callbackURL {
            logger.error("heartbeat with a changed callback URL refused", metadata: ["node": "\(node.uuid)", "url": "\(callbackURL)"])
            throw IronicError(status: 400, code: "Invalid", message: "Detected change in ramdisk provided \"callback_url\"")
        }
        guard agentToken != nil else {
            throw IronicError.invalidParameterValue("Agent token is required for heartbeat processing.")
        }
        if let agentStatus, !Self.agentStatuses.contains(agentStatus) {
            throw IronicError.invalidParameterValue("Agent status is invalid. Valid states are start,end,error.")
        }
        try await requireConductor(for: node)
        try await conductor.heartbeat(HeartbeatRequest(
            context: request.context, nodeUUID: node.uuid, callbackURL: callbackURL, agentToken: agentToken,
            agentVersion: agentVersion, agentVerifyCA: agentVerifyCA, agentStatus: agentStatus,
            agentStatusMessage: agentStatusMessage))
        return Response(status: .accepted)
    }

    /// `POST /v1/continue_inspection[?node_uuid=...]` → 202.
    func continueInspection(_ request: APIRequest) async throws -> Response {
        try requireRamdiskEndpoints(request, path: "/v1/continue_inspection")
        let nodeUUID = request.query["node_uuid"]
        guard request.minor == 1 || request.allows(84), nodeUUID == nil || request.allows(84) else {
            throw IronicError.notFound("API version 1.84 or newer is required")
        }
        if let nodeUUID, !UUIDText.isValid(nodeUUID) { throw IronicError.invalidUUID(nodeUUID) }
        var data = try request.jsonObject()
        guard let inventory = data.removeValue(forKey: "inventory")?.objectValue else {
            throw IronicError.invalidParameterValue("Invalid inspection data: 'inventory' is a required property")
        }
        guard let interfaces = inventory["interfaces"]?.arrayValue, !interfaces.isEmpty else {
            throw IronicError.invalidParameterValue("Invalid inspection data: the inventory has no 'interfaces'")
        }
        var macs: [String] = []
        for interface in interfaces {
            guard let mac = interface.objectValue?["mac_address"]?.stringValue else {
                throw IronicError.invalidParameterValue("Invalid inspection data: every interface needs a 'mac_address'")
            }
            if let normalized = MACAddress.normalized(mac) { macs.append(normalized) }
        }
        let bmcAddresses = ["bmc_address", "bmc_v6address"].compactMap { inventory[$0]?.stringValue }.filter { !$0.isEmpty }
        if macs.isEmpty && bmcAddresses.isEmpty && nodeUUID == nil {
            throw IronicError.badRequest("No lookup information provided")
        }
        let found: Node
        do {
            if let nodeUUID {
                found = try await store.node(uuid: nodeUUID.lowercased())
            } else {
                found = try await inspectedNode(macs: macs, bmcAddresses: bmcAddresses)
            }
        } catch let error as IronicError where error.status == 404 {
            throw IronicError.notFound()
        }
        try await requireConductor(for: found)
        var node = found
        if request.allows(84) {
            node = try await conductor.getNodeWithToken(NodeRequest(context: request.context, nodeUUID: found.uuid))
        }
        let token = request.query["agent_token"] ?? data.removeValue(forKey: "agent_token")?.stringValue
        _ = try await conductor.continueInspection(ContinueInspectionRequest(
            context: request.context, nodeUUID: found.uuid, inventory: .object(inventory), pluginData: data,
            agentToken: token))
        if request.allows(84) {
            return APIResponse.json(lookupDocument(node, request), status: .accepted)
        }
        return APIResponse.json(["uuid": .string(found.uuid)], status: .accepted)
    }

    /// The node an inventory describes: the one owning ports with its MACs, else the one
    /// waiting for inspection whose `driver_info.ipmi_address` is its BMC address.
    private func inspectedNode(macs: [String], bmcAddresses: [String]) async throws -> Node {
        if !macs.isEmpty, let node = try? await node(byPortAddresses: macs) { return node }
        guard !bmcAddresses.isEmpty else { throw IronicError.notFound() }
        // Only inspecting nodes can take the data, so only they are searched (all of them).
        var matches: [Node] = []
        for state in [ProvisionState.inspectWait, .inspecting] {
            var query = NodeQuery()
            query.provisionState = state
            matches += try await store.nodes(query).filter { node in
                guard let address = node.driverInfo["ipmi_address"]?.stringValue else { return false }
                return bmcAddresses.contains(address)
            }
        }
        guard matches.count == 1 else { throw IronicError.notFound() }
        return matches[0]
    }
}
