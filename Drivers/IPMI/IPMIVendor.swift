import Core
import IPMI

/// `ipmi` vendor passthru (also registered as `ipmitool`, Ironic's name).
///
/// Methods:
/// - `bmc_reset` (POST, synchronous): resets the BMC; body `{"warm": true}` (the default) for
///   a warm reset, `{"warm": false}` for a cold one.
///
/// Ironic's `send_raw` is not offered: the BMC client has no raw-command call.
public struct IPMIVendor: VendorInterface {
    /// `ipmi`.
    public var name: String { "ipmi" }

    private let backend: IPMIBackend
    private let management: IPMIManagement

    /// Creates the implementation over the service's shared BMC client.
    public init(client: any BMCClient, settings: IPMIDriverSettings = IPMIDriverSettings()) {
        self.backend = IPMIBackend(client: client, settings: settings)
        self.management = IPMIManagement(client: client, settings: settings)
    }

    /// Every `ipmi_*` key (`IPMIDriverInfo.properties`).
    public var properties: [String: String] { IPMIDriverInfo.properties }

    /// Checks the node's driver_info without contacting the BMC.
    public func validate(_ task: NodeTask) async throws {
        _ = try backend.driverInfo(task)
    }

    /// `bmc_reset`.
    public var routes: [String: VendorRoute] {
        [
            "bmc_reset": VendorRoute(
                httpMethods: ["POST"], async: false,
                description: "Reset the BMC. Optional argument: 'warm' (Boolean, default true): "
                    + "a warm reset when true, a cold reset when false.")
        ]
    }

    /// The checks made before a method runs: it exists, accepts the HTTP method, and its
    /// arguments are well formed.
    ///
    /// - Throws: `InvalidParameterValue`.
    public func validateCall(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) throws(IronicError) {
        guard let route = routes[method] else {
            throw .invalidParameterValue("No handler for method \(method)")
        }
        let verb = httpMethod.uppercased()
        guard route.httpMethods.contains(verb) else {
            throw .invalidParameterValue("The method \(method) does not support HTTP \(verb)")
        }
        if method == "bmc_reset" { _ = try Self.warm(from: body) }
        _ = try backend.driverInfo(task)
    }

    /// Runs `method`; `bmc_reset` answers nothing.
    public func call(_ method: String, httpMethod: String, body: JSONValue?, task: NodeTask) async throws -> JSONValue? {
        try validateCall(method, httpMethod: httpMethod, body: body, task: task)
        switch method {
        case "bmc_reset":
            try await management.resetBMC(task, warm: try Self.warm(from: body))
            return nil
        default:
            throw IronicError.invalidParameterValue("No handler for method \(method)")
        }
    }

    /// The `warm` argument: absent or null means true; Booleans, 0/1 and the usual strings count.
    static func warm(from body: JSONValue?) throws(IronicError) -> Bool {
        guard let body, !body.isNull else { return true }
        guard case .object(let arguments) = body else {
            throw .invalidParameterValue("The bmc_reset arguments must be a JSON object, not a \(body.typeName).")
        }
        do {
            return try IPMIDriverInfo.flag(arguments["warm"], key: "warm") ?? true
        } catch {
            throw .invalidParameterValue("bmc_reset argument 'warm' must be true or false.")
        }
    }
}
