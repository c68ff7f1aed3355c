import ConsoleProxyAPI
import Foundation
import IPMI

/// Checks a `POST /v1/consoles` body before anything starts, with messages that name the field.
enum ConsoleRequestValidator {
    static func validate(_ request: ConsoleRequest, config: ProxyConfig) throws(ProxyError) {
        guard UUID(uuidString: request.nodeUUID) != nil else {
            throw .badRequest("node_uuid '\(request.nodeUUID)' is not a UUID.")
        }
        let bmc = request.bmc
        guard !bmc.address.isEmpty, !bmc.address.contains(where: { $0.isWhitespace || $0 == "/" }), bmc.address.utf8.count <= 253 else {
            throw .badRequest("bmc.address '\(bmc.address)' is not a host name or address.")
        }
        if let port = bmc.port, !(1...65535).contains(port) {
            throw .badRequest("bmc.port \(port) is not in 1...65535.")
        }
        if let level = bmc.privilegeLevel, SOLSettings.Privilege(rawValue: level.uppercased()) == nil {
            throw .badRequest("bmc.privilege_level '\(level)' is not one of ADMINISTRATOR, OPERATOR, USER.")
        }
        var settings = SOLSettings(
            host: bmc.address, port: bmc.port ?? 623, username: bmc.username ?? "", password: bmc.password ?? "")
        settings.cipherSuite = bmc.cipherSuite ?? 3
        settings.workarounds = Set(bmc.workarounds ?? [])
        settings.sessionTimeout = config.solSessionTimeout
        settings.keepaliveTimeout = config.solKeepalive
        do { try settings.validate() } catch {
            throw .badRequest(error.message)
        }
        if let size = request.options.logSize, !(1024...config.maxLogSize).contains(size) {
            throw .badRequest("options.log_size \(size) is not in 1024...\(config.maxLogSize).")
        }
    }
}
