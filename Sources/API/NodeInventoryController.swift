import Core
import Hummingbird

/// `GET /v1/nodes/{node}/inventory` (1.81): what inspection last stored for a node.
extension IronicAPI {
    /// The microversion that added the endpoint.
    static let inventoryMinor = 81

    func registerNodeInventoryRoutes(_ router: inout APIRouter) {
        router.add(.get, "nodes/:node/inventory", maximumMinor: Self.ramdiskMaximumMinor) { try await showInventory($0) }
    }

    func showInventory(_ request: APIRequest) async throws -> Response {
        guard request.allows(Self.inventoryMinor) else { throw IronicError.notFound() }
        let node = try await node(request.parameter("node"), request)
        let report = try await store.inventory(nodeUUID: node.uuid)
        return APIResponse.json(["inventory": report.inventory, "plugin_data": report.pluginData])
    }
}
