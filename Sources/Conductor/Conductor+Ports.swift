import Core
import Foundation
import RPC
import Store

extension Conductor {
    public func createPort(_ request: PortRequest) async throws -> NodePort {
        let port = request.port
        _ = try await existingNode(port.nodeUUID)
        if let group = port.portgroupUUID { try await checkPortgroup(group, belongsTo: port.nodeUUID) }
        return try await store.createPort(port)
    }

    public func updatePort(_ request: PortRequest) async throws -> NodePort {
        let current = try await store.port(uuid: request.port.uuid)
        return try await withExclusiveLock(current.nodeUUID, purpose: "port update") { _ in
            let port = request.port
            if port.nodeUUID != current.nodeUUID { _ = try await existingNode(port.nodeUUID) }
            if let group = port.portgroupUUID { try await checkPortgroup(group, belongsTo: port.nodeUUID) }
            return try await store.savePort(port)
        }
    }

    public func destroyPort(_ request: PortRequest) async throws {
        let current = try await store.port(uuid: request.port.uuid)
        try await withExclusiveLock(current.nodeUUID, purpose: "port deletion") { task in
            if let vif = current.attachedVIF, task.node.provisionState == .active, !task.node.maintenance {
                throw IronicError.invalidState(
                    "Cannot delete port \(current.uuid) of node \(task.node.uuid): VIF \(vif) is attached and the node is active.")
            }
            try await store.deletePort(uuid: current.uuid)
        }
    }

    public func createPortgroup(_ request: PortgroupRequest) async throws -> Portgroup {
        _ = try await existingNode(request.portgroup.nodeUUID)
        return try await store.createPortgroup(request.portgroup)
    }

    public func updatePortgroup(_ request: PortgroupRequest) async throws -> Portgroup {
        let current = try await store.portgroup(uuid: request.portgroup.uuid)
        return try await withExclusiveLock(current.nodeUUID, purpose: "portgroup update") { _ in
            if request.portgroup.nodeUUID != current.nodeUUID {
                _ = try await existingNode(request.portgroup.nodeUUID)
                let members = try await store.ports(PortQuery(portgroupUUID: current.uuid))
                guard members.isEmpty else { throw IronicError.portgroupNotEmpty(current.uuid) }
            }
            return try await store.savePortgroup(request.portgroup)
        }
    }

    public func destroyPortgroup(_ request: PortgroupRequest) async throws {
        let current = try await store.portgroup(uuid: request.portgroup.uuid)
        try await withExclusiveLock(current.nodeUUID, purpose: "portgroup deletion") { _ in
            try await store.deletePortgroup(uuid: current.uuid)
        }
    }

    private func existingNode(_ uuid: String) async throws -> Node {
        do { return try await store.node(uuid: uuid) } catch let error as IronicError where error.status == 404 {
            throw IronicError.invalidParameterValue("Node \(uuid) could not be found.")
        }
    }

    private func checkPortgroup(_ uuid: String, belongsTo nodeUUID: String) async throws {
        let group: Portgroup
        do { group = try await store.portgroup(uuid: uuid) } catch let error as IronicError where error.status == 404 {
            throw IronicError.invalidParameterValue("Portgroup \(uuid) could not be found.")
        }
        guard group.nodeUUID == nodeUUID else {
            throw IronicError.invalidParameterValue(
                "Port can not be added to a portgroup (\(uuid)) that belongs to a different node.")
        }
    }

    // MARK: VIFs

    public func listVIFs(_ request: NodeRequest) async throws -> [String] {
        let ports = try await store.ports(PortQuery(nodeUUID: request.nodeUUID))
        let groups = try await store.portgroups(PortgroupQuery(nodeUUID: request.nodeUUID))
        return groups.compactMap(\.attachedVIF) + ports.compactMap(\.attachedVIF)
    }

    public func attachVIF(_ request: VIFRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "attach vif") { task in
            let network = try tasks.driver(for: task).require(.network, as: (any NetworkInterface).self)
            let ports = try await store.ports(PortQuery(nodeUUID: task.node.uuid))
            let groups = try await store.portgroups(PortgroupQuery(nodeUUID: task.node.uuid))
            if ports.contains(where: { $0.attachedVIF == request.vifID }) || groups.contains(where: { $0.attachedVIF == request.vifID }) {
                throw IronicError(status: 409, code: "VifAlreadyAttached", message: "Unable to attach VIF because VIF \(request.vifID) is already attached to node \(task.node.uuid)")
            }
            let target: String
            if let portUUID = request.portUUID {
                guard let port = ports.first(where: { $0.uuid == portUUID }) else {
                    throw IronicError.invalidParameterValue("Port \(portUUID) does not belong to node \(task.node.uuid).")
                }
                guard port.attachedVIF == nil else {
                    throw IronicError(status: 409, code: "VifAlreadyAttached", message: "Unable to attach VIF \(request.vifID): port \(portUUID) already has VIF \(port.attachedVIF!) attached.")
                }
                target = portUUID
            } else if let groupUUID = request.portgroupUUID {
                guard let group = groups.first(where: { $0.uuid == groupUUID }) else {
                    throw IronicError.invalidParameterValue("Portgroup \(groupUUID) does not belong to node \(task.node.uuid).")
                }
                guard group.attachedVIF == nil else {
                    throw IronicError(status: 409, code: "VifAlreadyAttached", message: "Unable to attach VIF \(request.vifID): portgroup \(groupUUID) already has VIF \(group.attachedVIF!) attached.")
                }
                target = groupUUID
            } else {
                target = try network.chooseAttachmentTarget(ports: ports, portgroups: groups, vifID: request.vifID, task: task)
            }
            if var group = groups.first(where: { $0.uuid == target }) {
                group.internalInfo["tenant_vif_port_id"] = .string(request.vifID)
                _ = try await store.savePortgroup(group)
            } else if var port = ports.first(where: { $0.uuid == target }) {
                port.internalInfo["tenant_vif_port_id"] = .string(request.vifID)
                _ = try await store.savePort(port)
            }
        }
    }

    public func detachVIF(_ request: VIFRequest) async throws {
        try await withExclusiveLock(request.nodeUUID, purpose: "detach vif") { task in
            for var group in try await store.portgroups(PortgroupQuery(nodeUUID: task.node.uuid)) where group.attachedVIF == request.vifID {
                group.internalInfo["tenant_vif_port_id"] = nil
                _ = try await store.savePortgroup(group)
                return
            }
            for var port in try await store.ports(PortQuery(nodeUUID: task.node.uuid)) where port.attachedVIF == request.vifID {
                port.internalInfo["tenant_vif_port_id"] = nil
                _ = try await store.savePort(port)
                return
            }
            throw IronicError.vifNotAttached(vif: request.vifID, node: task.node.uuid)
        }
    }
}
