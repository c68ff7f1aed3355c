/// Every error the service reports: the HTTP status, Ironic's exception class name and
/// its message. The API renders it as Ironic's `error_message` body in one place; the RPC
/// layer carries it across processes unchanged, so a 409 `NodeLocked` raised in a conductor
/// stays a 409 at the API.
public struct IronicError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// HTTP status code (400 and up).
    public let status: Int
    /// Ironic's exception class name, e.g. `NodeLocked`.
    public let code: String
    /// Human-readable message; becomes `faultstring`.
    public let message: String

    /// Creates an error from its parts.
    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// `Client` for 4xx, `Server` for 5xx: Ironic's `faultcode`.
    public var faultCode: String { status < 500 ? "Client" : "Server" }

    public var description: String { "\(code) (\(status)): \(message)" }
}

// Ironic's exceptions, with the same status codes and messages.
extension IronicError {
    /// 400, Ironic's `InvalidParameterValue`.
    public static func invalidParameterValue(_ message: String) -> IronicError {
        .init(status: 400, code: "InvalidParameterValue", message: message)
    }

    /// 400, Ironic's `MissingParameterValue`.
    public static func missingParameterValue(_ message: String) -> IronicError {
        .init(status: 400, code: "MissingParameterValue", message: message)
    }

    /// 400, a request the API refuses before it reaches a conductor (Ironic's `ClientSideError`).
    public static func badRequest(_ message: String) -> IronicError {
        .init(status: 400, code: "ClientSideError", message: message)
    }

    /// 400, a request body that is not JSON.
    public static func invalidJSON(_ reason: String) -> IronicError {
        .init(status: 400, code: "ClientSideError", message: "Invalid data: the request body is not valid JSON: \(reason)")
    }

    /// 400, Ironic's `InvalidUUID`.
    public static func invalidUUID(_ value: String) -> IronicError {
        .init(status: 400, code: "InvalidUUID", message: "Expected a UUID but received \(value).")
    }

    /// 400, Ironic's `InvalidUuidOrName`.
    public static func invalidUUIDOrName(_ value: String) -> IronicError {
        .init(status: 400, code: "InvalidUuidOrName", message: "Expected a logical name or UUID but received \(value).")
    }

    /// 400, Ironic's `InvalidName`.
    public static func invalidName(_ value: String) -> IronicError {
        .init(status: 400, code: "InvalidName", message: "Expected a logical name but received \(value).")
    }

    /// 400, Ironic's `PatchError`.
    public static func patchError(_ patch: String, reason: String) -> IronicError {
        .init(status: 400, code: "PatchError", message: "Couldn't apply patch '\(patch)'. Reason: \(reason)")
    }

    /// 400, Ironic's `InvalidStateRequested`.
    public static func invalidStateRequested(action: String, node: String, state: String) -> IronicError {
        .init(
            status: 400, code: "InvalidStateRequested",
            message: "The requested action \"\(action)\" can not be performed on node \"\(node)\" while it is in state \"\(state)\".")
    }

    /// 409, Ironic's `InvalidState`: the node's state forbids the request.
    public static func invalidState(_ message: String) -> IronicError {
        .init(status: 409, code: "InvalidState", message: message)
    }

    /// 400, Ironic's `UnsupportedDriverExtension`.
    public static func unsupportedDriverExtension(driver: String, extension name: String) -> IronicError {
        .init(
            status: 400, code: "UnsupportedDriverExtension",
            message: "Driver \(driver) does not support \(name) (disabled or not implemented).")
    }

    /// 400, Ironic's `InterfaceNotFoundInEntrypoint` / incompatible interface.
    public static func interfaceNotFound(_ message: String) -> IronicError {
        .init(status: 400, code: "InterfaceNotFoundInEntrypoint", message: message)
    }

    /// 400, Ironic's `ChassisNotEmpty`.
    public static func chassisNotEmpty(_ chassis: String) -> IronicError {
        .init(
            status: 400, code: "ChassisNotEmpty",
            message: "Cannot complete the requested action because chassis \(chassis) contains nodes.")
    }

    /// 403, Ironic's `NodeProtected`.
    public static func nodeProtected(_ node: String) -> IronicError {
        .init(
            status: 403, code: "NodeProtected",
            message: "Node \(node) is protected and cannot be undeployed, rebuilt or deleted")
    }

    /// 404, Ironic's `NodeNotFound`.
    public static func nodeNotFound(_ node: String) -> IronicError {
        .init(status: 404, code: "NodeNotFound", message: "Node \(node) could not be found.")
    }

    /// 404, Ironic's `PortNotFound`.
    public static func portNotFound(_ port: String) -> IronicError {
        .init(status: 404, code: "PortNotFound", message: "Port \(port) could not be found.")
    }

    /// 404, Ironic's `PortgroupNotFound`.
    public static func portgroupNotFound(_ portgroup: String) -> IronicError {
        .init(status: 404, code: "PortgroupNotFound", message: "Portgroup \(portgroup) could not be found.")
    }

    /// 404, Ironic's `ChassisNotFound`.
    public static func chassisNotFound(_ chassis: String) -> IronicError {
        .init(status: 404, code: "ChassisNotFound", message: "Chassis \(chassis) could not be found.")
    }

    /// 404, Ironic's `ConductorNotFound`.
    public static func conductorNotFound(_ conductor: String) -> IronicError {
        .init(status: 404, code: "ConductorNotFound", message: "Conductor \(conductor) could not be found.")
    }

    /// 404, Ironic's `DriverNotFound`.
    public static func driverNotFound(_ driver: String) -> IronicError {
        .init(
            status: 404, code: "DriverNotFound",
            message: "Could not find the following driver(s) or hardware type(s): \(driver).")
    }

    /// 404, Ironic's `NodeTraitNotFound`.
    public static func traitNotFound(node: String, trait: String) -> IronicError {
        .init(status: 404, code: "NodeTraitNotFound", message: "Node \(node) doesn't have a trait '\(trait)'")
    }

    /// 404, Ironic's `NodeHistoryNotFound`.
    public static func historyNotFound(_ id: String) -> IronicError {
        .init(status: 404, code: "NodeHistoryNotFound", message: "Node history record \(id) could not be found.")
    }

    /// 404, Ironic's `NodeInventoryNotFound`.
    public static func inventoryNotFound(node: String) -> IronicError {
        .init(status: 404, code: "NodeInventoryNotFound", message: "Node inventory for node \(node) could not be found.")
    }

    /// 400, Ironic's `VifNotAttached`.
    public static func vifNotAttached(vif: String, node: String) -> IronicError {
        .init(status: 400, code: "VifNotAttached", message: "Unable to detach VIF \(vif) from node \(node) because it is not attached to it.")
    }

    /// 404, a URL the API does not serve.
    public static func notFound(_ message: String = "The resource could not be found.") -> IronicError {
        .init(status: 404, code: "NotFound", message: message)
    }

    /// 405, a method the resource does not allow.
    public static func methodNotAllowed() -> IronicError {
        .init(status: 405, code: "MethodNotAllowed", message: "The method specified is not allowed for this resource.")
    }

    /// 406, a microversion outside the supported range.
    public static func notAcceptable(_ message: String) -> IronicError {
        .init(status: 406, code: "NotAcceptable", message: message)
    }

    /// 409, Ironic's `NodeLocked`.
    public static func nodeLocked(_ node: String, host: String) -> IronicError {
        .init(
            status: 409, code: "NodeLocked",
            message: "Node \(node) is locked by host \(host), please retry after the current operation is completed.")
    }

    /// 409, Ironic's `NodeAssociated`.
    public static func nodeAssociated(_ node: String, instance: String) -> IronicError {
        .init(status: 409, code: "NodeAssociated", message: "Node \(node) is associated with instance \(instance).")
    }

    /// 409, Ironic's `NodeAlreadyExists`.
    public static func nodeAlreadyExists(uuid: String) -> IronicError {
        .init(status: 409, code: "NodeAlreadyExists", message: "A node with UUID \(uuid) already exists.")
    }

    /// 409, Ironic's `DuplicateName`.
    public static func duplicateName(_ name: String) -> IronicError {
        .init(status: 409, code: "DuplicateName", message: "A node with name \(name) already exists.")
    }

    /// 409, Ironic's `InstanceAssociated`.
    public static func instanceAssociated(instance: String, node: String) -> IronicError {
        .init(status: 409, code: "InstanceAssociated", message: "Instance \(instance) is already associated with a node, it cannot be associated with this other node \(node)")
    }

    /// 409, Ironic's `MACAlreadyExists`.
    public static func macAlreadyExists(_ mac: String) -> IronicError {
        .init(status: 409, code: "MACAlreadyExists", message: "A port with MAC address \(mac) already exists.")
    }

    /// 409, Ironic's `PortAlreadyExists` / `PortgroupAlreadyExists` / `ChassisAlreadyExists`.
    public static func alreadyExists(_ kind: String, uuid: String) -> IronicError {
        .init(status: 409, code: "\(kind)AlreadyExists", message: "A \(kind.lowercased()) with UUID \(uuid) already exists.")
    }

    /// 400, Ironic's `PortgroupNotEmpty`.
    public static func portgroupNotEmpty(_ portgroup: String) -> IronicError {
        .init(status: 400, code: "PortgroupNotEmpty", message: "Cannot complete the requested action because portgroup \(portgroup) contains ports.")
    }

    /// 409, a generic conflict.
    public static func conflict(_ message: String) -> IronicError {
        .init(status: 409, code: "Conflict", message: message)
    }

    /// 413, a request body larger than `[api] max_request_body_size`.
    public static func payloadTooLarge(limit: Int) -> IronicError {
        .init(status: 413, code: "RequestEntityTooLarge", message: "Request is too large. The limit is \(limit) bytes.")
    }

    /// 500, an unexpected failure (never raised for bad input).
    public static func internalError(_ message: String) -> IronicError {
        .init(status: 500, code: "IronicException", message: message)
    }

    /// 503, Ironic's `NoValidHost`/`NoFreeConductorWorker`: no conductor can take the request.
    public static func noConductor(_ message: String) -> IronicError {
        .init(status: 503, code: "NoValidHost", message: message)
    }

    /// 503, Ironic's `NoFreeConductorWorker`.
    public static func noFreeConductorWorker() -> IronicError {
        .init(status: 503, code: "NoFreeConductorWorker", message: "Requested action cannot be performed due to lack of free conductor workers.")
    }
}
