import Core
import GenericInterfaces

/// `fake` vendor passthru (Ironic's `FakeVendorB`): methods that compare the `bar` argument
/// with a fixed word, one per passthru flavour (asynchronous, synchronous, shared lock), plus
/// `log_passthrough`, which only logs.
public struct FakeVendor: VendorInterface {
    /// `fake`.
    public var name: String { "fake" }

    /// Creates the implementation.
    public init() {}

    /// Ironic documents two keys it never reads; kept so `GET /drivers/fake-hardware/properties`
    /// answers as Ironic's does.
    public var properties: [String: String] {
        ["B1": "B1 description. Required.", "B2": "B2 description. Required."]
    }

    /// The word each comparing method looks for in `bar`.
    private static let expectedBar = [
        "second_method": "kazoo",
        "third_method_sync": "meow",
        "fourth_method_shared_lock": "woof",
    ]

    /// `second_method`, `third_method_sync` (synchronous), `fourth_method_shared_lock` and
    /// `log_passthrough`, all `POST`.
    ///
    /// `fourth_method_shared_lock` runs under a shared lock in Ironic; `VendorRoute` cannot say
    /// so yet, so here it takes the exclusive lock like the others.
    public var routes: [String: VendorRoute] {
        [
            "second_method": VendorRoute(
                httpMethods: ["POST"], async: true, description: "Test if the value of bar is kazoo"),
            "third_method_sync": VendorRoute(
                httpMethods: ["POST"], async: false, description: "Test if the value of bar is meow"),
            "fourth_method_shared_lock": VendorRoute(
                httpMethods: ["POST"], async: true, description: "Test if the value of bar is woof"),
            "log_passthrough": VendorRoute(
                httpMethods: ["POST"], async: true, description: "Test pass-through to wait."),
        ]
    }

    /// The checks Ironic runs before a passthru method is queued: the method and HTTP method
    /// exist, and the comparing methods have a non-empty `bar`.
    ///
    /// - Throws: `InvalidParameterValue` for an unknown method or HTTP method,
    ///   `MissingParameterValue` for a missing `bar`.
    public func validateCall(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) throws(IronicError) {
        guard let route = routes[method] else {
            throw .invalidParameterValue("No handler for method \(method)")
        }
        let verb = httpMethod.uppercased()
        guard route.httpMethods.contains(verb) else {
            throw .invalidParameterValue("The method \(method) does not support HTTP \(verb)")
        }
        if Self.expectedBar[method] != nil, body?["bar"]?.isTruthy != true {
            throw .missingParameterValue("Parameter 'bar' not passed to method '\(method)'.")
        }
    }

    /// Runs `method`: the comparing ones answer whether `bar` is their word,
    /// `log_passthrough` answers nothing.
    public func call(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) async throws -> JSONValue? {
        try validateCall(method, httpMethod: httpMethod, body: body, task: task)
        if let expected = Self.expectedBar[method] {
            return .bool(body?["bar"] == .string(expected))
        }
        task.logger.debug(
            "Fake vendor passthru called",
            metadata: ["method": "\(method)", "body": "\(body?.serialized() ?? "null")"])
        return nil
    }
}
