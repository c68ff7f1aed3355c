import Core

/// Ironic's rules for choosing where a VIF lands (`network/common.py`), for network interfaces
/// that keep VIFs on the node's own ports rather than asking a network service.
///
/// Candidates are free portgroups and free ports. A portgroup counts only while it has free
/// member ports and none of its members carries a VIF; otherwise its free members compete as
/// single ports so one bond is never split between tenants. Portgroups win over ports, and
/// PXE-enabled ports over the rest; among equals the earlier one in the given order wins.
/// Physical networks play no part: without a network service every VIF allows every physnet.
public enum VIFAttachment {
    /// The UUID of the port or portgroup that should carry `vifID`.
    ///
    /// - Parameters:
    ///   - ports: All ports of the node, in the order the conductor lists them.
    ///   - portgroups: All portgroups of the node.
    ///   - vifID: The VIF being attached.
    ///   - portUUID: The port the user named (`port_uuid` in the attach request), if any.
    ///   - portgroupUUID: The portgroup the user named (`portgroup_uuid`), if any and no port is named.
    /// - Throws: `VifAlreadyAttached` (409) when `vifID` already sits on one of them,
    ///   `NoFreePhysicalPorts` (400) when nothing is free, `PortgroupPhysnetInconsistent` (500)
    ///   when a candidate portgroup's members disagree on their physical network.
    public static func chooseTarget(
        ports: [NodePort],
        portgroups: [Portgroup],
        vifID: String,
        portUUID: String? = nil,
        portgroupUUID: String? = nil
    ) throws(IronicError) -> String {
        let portgroupUUID = portUUID == nil ? portgroupUUID : nil
        var candidates: [Candidate] = []
        var freePortsByGroup: [String: [NodePort]] = [:]
        // Groups with a member that already carries some VIF.
        var busyGroups: Set<String> = []

        for port in ports {
            if let portUUID, port.uuid != portUUID { continue }
            guard hasUsableLinkInfo(port) else { continue }
            if let attached = port.attachedVIF {
                if attached == vifID { throw .vifAlreadyAttached(vif: vifID, objectType: "Port", uuid: port.uuid) }
                if let group = port.portgroupUUID { busyGroups.insert(group) }
                continue
            }
            if let group = port.portgroupUUID {
                freePortsByGroup[group, default: []].append(port)
            } else if portgroupUUID == nil {
                candidates.append(.port(port))
            }
        }

        // A named port is taken on its own; Ironic then never considers portgroups.
        if portUUID == nil {
            for group in portgroups {
                if let portgroupUUID, group.uuid != portgroupUUID { continue }
                if let attached = group.attachedVIF {
                    if attached == vifID {
                        throw .vifAlreadyAttached(vif: vifID, objectType: "Portgroup", uuid: group.uuid)
                    }
                    continue
                }
                let members = freePortsByGroup[group.uuid] ?? []
                if busyGroups.contains(group.uuid) {
                    if portgroupUUID == nil { candidates += members.map(Candidate.port) }
                } else if !members.isEmpty {
                    candidates.append(.portgroup(group))
                }
            }
        }

        var best: (candidate: Candidate, rank: Int)?
        for candidate in candidates {
            let rank: Int
            switch candidate {
            case .portgroup(let group):
                try checkConsistentPhysnets(of: group, ports: ports)
                rank = 2
            case .port(let port):
                rank = port.pxeEnabled ? 1 : 0
            }
            if rank > best?.rank ?? -1 { best = (candidate, rank) }
        }
        guard let best else { throw .noFreePhysicalPorts(vif: vifID) }
        return best.candidate.uuid
    }

    private enum Candidate {
        case port(NodePort)
        case portgroup(Portgroup)

        var uuid: String {
            switch self {
            case .port(let port): port.uuid
            case .portgroup(let group): group.uuid
            }
        }
    }

    /// Ironic's `validate_port_info` as far as it applies without Neutron: a Smart NIC port
    /// needs `port_id` and `hostname` in its local link connection, and only a Smart NIC port may
    /// have them. InfiniBand ports (`client-id` in `extra`) are exempt, their topology being
    /// discovered by the subnet manager.
    private static func hasUsableLinkInfo(_ port: NodePort) -> Bool {
        if port.extra["client-id"]?.isTruthy == true { return true }
        let link = port.localLinkConnection
        let looksLikeSmartNIC = link["port_id"]?.stringValue != nil && link["hostname"]?.stringValue != nil
        return looksLikeSmartNIC == port.isSmartNIC
    }

    /// Ironic refuses to pick a portgroup whose members sit on different physical networks,
    /// since no single network could then be bound to the bond.
    private static func checkConsistentPhysnets(of group: Portgroup, ports: [NodePort]) throws(IronicError) {
        let physnets = Set(ports.filter { $0.portgroupUUID == group.uuid }.map { $0.physicalNetwork ?? "None" })
        guard physnets.count <= 1 else {
            throw IronicError(
                status: 500, code: "PortgroupPhysnetInconsistent",
                message: "Port group \(group.uuid) has member ports with inconsistent physical networks "
                    + "(\(physnets.sorted().joined(separator: ", "))). "
                    + "All ports in a port group must have the same physical network.")
        }
    }
}

extension JSONValue {
    /// Python's truthiness, for rules Ironic writes as `if value:` / `if not value:`; shared with
    /// the other driver targets of this package, not part of the public API.
    package var isTruthy: Bool {
        switch self {
        case .null: false
        case .bool(let value): value
        case .int(let value): value != 0
        case .double(let value): value != 0
        case .string(let value): !value.isEmpty
        case .array(let value): !value.isEmpty
        case .object(let value): !value.isEmpty
        }
    }
}

extension IronicError {
    /// 409, Ironic's `VifAlreadyAttached`; `objectType` is `Port` or `Portgroup`.
    public static func vifAlreadyAttached(vif: String, objectType: String, uuid: String) -> IronicError {
        .init(
            status: 409, code: "VifAlreadyAttached",
            message: "Unable to attach VIF because VIF \(vif) is already attached to Ironic \(objectType) \(uuid)")
    }

    /// 400, Ironic's `NoFreePhysicalPorts`.
    public static func noFreePhysicalPorts(vif: String) -> IronicError {
        .init(status: 400, code: "NoFreePhysicalPorts", message: "Unable to attach VIF \(vif), not enough free physical ports.")
    }
}
