import Conductor
import Core
import Foundation
import HardwareTypes
import Logging
import SQLiteStore
import Store
import Testing

@testable import RPC

/// The dispatcher in front of a real conductor over an in-memory SQLite store.
@Suite("JSON-RPC dispatcher")
struct JSONRPCDispatcherTests {
    let store: SQLiteStore
    let dispatcher: JSONRPCDispatcher

    init() async throws {
        store = try SQLiteStore.inMemory()
        _ = try await store.upgrade()
        let logger = Logger(label: "rpc-tests")
        let drivers = DriverConfig(enabledHardwareTypes: ["fake-hardware"])
        let defaults = IronicConfig()
        let registry = try ShippedHardware.registry(config: drivers, ipmi: defaults.ipmi, conductor: defaults.conductor, logger: logger)
        let conductor = Conductor(hostname: "c1", store: store, registry: registry, config: defaults.conductor, logger: logger)
        dispatcher = JSONRPCDispatcher(target: conductor, logger: logger)
    }

    func call(_ json: String) async throws -> JSONValue? {
        guard let reply = await dispatcher.handle(Data(json.utf8)) else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: reply)
    }

    func call<P: Codable & Sendable>(_ method: String, _ params: P, id: String? = "req-1") async throws -> JSONValue? {
        let body = try JSONRPC.makeEncoder().encode(JSONRPCRequest(method: method, params: params, id: id))
        guard let reply = await dispatcher.handle(body) else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: reply)
    }

    static let context = RequestContext(requestID: "req-1", userID: "admin")

    @Test func createsANodeAndReturnsItAsTheResult() async throws {
        let reply = try await call("create_node", CreateNodeRequest(context: Self.context, node: Node(driver: "fake-hardware")))
        guard case .object(let object)? = reply, case .object(let result)? = object["result"] else {
            Issue.record("no result: \(String(describing: reply))")
            return
        }
        #expect(object["id"] == JSONValue.string("req-1"))
        #expect(object["jsonrpc"] == JSONValue.string("2.0"))
        #expect(result["driver"] == JSONValue.string("fake-hardware"))
        #expect(try await store.nodes(NodeQuery()).count == 1)
    }

    @Test func ironicErrorsKeepTheirStatusAndClass() async throws {
        let node = try await store.createNode(Node(driver: "fake-hardware"))
        _ = try await store.reserveNode(uuid: node.uuid, conductor: "someone-else")
        let reply = try await call(
            "change_node_power_state", ChangePowerStateRequest(context: Self.context, nodeUUID: node.uuid, target: .on))
        guard case .object(let object)? = reply, case .object(let error)? = object["error"] else {
            Issue.record("no error: \(String(describing: reply))")
            return
        }
        #expect(error["code"] == JSONValue.int(409))
        #expect(error["data"] == JSONValue.object(["class": .string("ironic.common.exception.NodeLocked")]))
        let decoded = try JSONRPC.makeDecoder().decode(JSONRPCResponse<RPCVoid>.self, from: JSONEncoder().encode(reply))
        #expect(decoded.error?.ironicError.code == "NodeLocked")
        #expect(decoded.error?.ironicError.status == 409)
    }

    @Test(arguments: [
        ("not json", -32700),
        ("[1, 2]", -32600),
        (#"{"jsonrpc": "1.0", "method": "create_node", "id": "x"}"#, -32600),
        (#"{"jsonrpc": "2.0", "method": "no_such_method", "params": {}, "id": "x"}"#, -32601),
        (#"{"jsonrpc": "2.0", "method": "change_node_power_state", "params": {"nodeUUID": 5}, "id": "x"}"#, -32602),
    ])
    func protocolErrorsHaveJSONRPCCodes(_ body: String, _ code: Int) async throws {
        let reply = try await call(body)
        guard case .object(let object)? = reply, case .object(let error)? = object["error"] else {
            Issue.record("no error for \(body): \(String(describing: reply))")
            return
        }
        #expect(error["code"] == JSONValue.int(code), "\(body)")
    }

    @Test func aNotificationGetsNoReply() async throws {
        let node = try await store.createNode(Node(driver: "fake-hardware"))
        let reply = try await call(
            "set_maintenance", SetMaintenanceRequest(context: Self.context, nodeUUID: node.uuid, maintenance: true, reason: "rpc"), id: nil)
        #expect(reply == nil)
        #expect(try await store.node(uuid: node.uuid).maintenance)
    }

    @Test func servesEveryConductorAPIMethod() {
        #expect(dispatcher.methodNames.count == 29)
    }
}
