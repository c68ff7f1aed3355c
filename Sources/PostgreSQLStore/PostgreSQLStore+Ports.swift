import Core
import Foundation
import PostgresNIO
import Store

extension PostgreSQLStore {
    // MARK: Ports

    /// Inserts a port. Throws `MACAlreadyExists`, `PortAlreadyExists`, or `NodeNotFound` /
    /// `PortgroupNotFound` when what it references is missing.
    public func createPort(_ port: NodePort) async throws -> NodePort {
        var port = port
        port.createdAt = ColumnCoding.normalized(port.createdAt)
        port.updatedAt = ColumnCoding.normalized(port.updatedAt)
        let created = port
        try await insert(TableRows.insert("ports", PortRow.columns, PortRow.values(of: created))) {
            try await PortRow.conflict($0, created, self)
        }
        return port
    }

    /// The port with this UUID. Throws `PortNotFound`.
    public func port(uuid: String) async throws -> NodePort {
        guard let port = try await PortRow.fetchOne(self, uuid: uuid) else { throw IronicError.portNotFound(uuid) }
        return port
    }

    /// Ports matching `query`, in its order, after its marker.
    public func ports(_ query: PortQuery) async throws -> [NodePort] {
        var select = SelectBuilder(table: "ports", columns: PortRow.selection)
        select.equal("node_uuid", query.nodeUUID)
        select.equal("portgroup_uuid", query.portgroupUUID)
        select.equal("address", query.address)
        try await select.page(query.page, sortKeys: PortQuery.sortKeys, store: self)
        return try await fetch(select.sql, PortRow.decode)
    }

    /// Writes every field of a port but its creation date, stamps `updatedAt`, and returns it
    /// as stored. Throws `PortNotFound`, `MACAlreadyExists`, `NodeNotFound` or `PortgroupNotFound`.
    public func savePort(_ port: NodePort) async throws -> NodePort {
        var port = port
        port.updatedAt = Date()
        let saved = port
        return try await updateRow(
            TableRows.update(
                "ports", PortRow.columns, PortRow.values(of: saved), except: PortRow.immutable, uuid: saved.uuid,
                returning: PortRow.selection),
            decode: PortRow.decode,
            conflict: { try await PortRow.conflict($0, saved, self) },
            notFound: { .portNotFound(saved.uuid) })
    }

    /// Deletes a port. Throws `PortNotFound`.
    public func deletePort(uuid: String) async throws {
        var delete = SQLStatement("DELETE FROM ports WHERE uuid = ")
        delete.bind(.text(uuid))
        delete.append(" RETURNING id")
        if try await rows(delete).isEmpty { throw IronicError.portNotFound(uuid) }
    }

    // MARK: Portgroups

    /// Inserts a portgroup. Throws `PortgroupAlreadyExists`, `PortgroupDuplicateName`,
    /// `PortgroupMACAlreadyExists` (Ironic's codes), or `NodeNotFound`.
    public func createPortgroup(_ portgroup: Portgroup) async throws -> Portgroup {
        var portgroup = portgroup
        portgroup.createdAt = ColumnCoding.normalized(portgroup.createdAt)
        portgroup.updatedAt = ColumnCoding.normalized(portgroup.updatedAt)
        let created = portgroup
        try await insert(TableRows.insert("portgroups", PortgroupRow.columns, PortgroupRow.values(of: created))) {
            PortgroupRow.conflict($0, created)
        }
        return portgroup
    }

    /// The portgroup with this UUID. Throws `PortgroupNotFound`.
    public func portgroup(uuid: String) async throws -> Portgroup {
        guard let group = try await PortgroupRow.fetchOne(self, where: "uuid", uuid) else {
            throw IronicError.portgroupNotFound(uuid)
        }
        return group
    }

    /// The portgroup with this name. Throws `PortgroupNotFound`.
    public func portgroup(name: String) async throws -> Portgroup {
        guard let group = try await PortgroupRow.fetchOne(self, where: "name", name) else {
            throw IronicError.portgroupNotFound(name)
        }
        return group
    }

    /// Portgroups matching `query`, in its order, after its marker.
    public func portgroups(_ query: PortgroupQuery) async throws -> [Portgroup] {
        var select = SelectBuilder(table: "portgroups", columns: PortgroupRow.selection)
        select.equal("node_uuid", query.nodeUUID)
        select.equal("address", query.address)
        try await select.page(query.page, sortKeys: PortgroupQuery.sortKeys, store: self)
        return try await fetch(select.sql, PortgroupRow.decode)
    }

    /// Writes every field of a portgroup but its creation date, stamps `updatedAt`, and returns
    /// it as stored. Throws `PortgroupNotFound`, or the conflicts of `createPortgroup`.
    public func savePortgroup(_ portgroup: Portgroup) async throws -> Portgroup {
        var portgroup = portgroup
        portgroup.updatedAt = Date()
        let saved = portgroup
        return try await updateRow(
            TableRows.update(
                "portgroups", PortgroupRow.columns, PortgroupRow.values(of: saved), except: PortgroupRow.immutable,
                uuid: saved.uuid, returning: PortgroupRow.selection),
            decode: PortgroupRow.decode,
            conflict: { PortgroupRow.conflict($0, saved) },
            notFound: { .portgroupNotFound(saved.uuid) })
    }

    /// Deletes a portgroup. Throws `PortgroupNotFound`, or `PortgroupNotEmpty` while ports use
    /// it (the ports' foreign key refuses the delete, so a port added meanwhile is seen too).
    public func deletePortgroup(uuid: String) async throws {
        var delete = SQLStatement("DELETE FROM portgroups WHERE uuid = ")
        delete.bind(.text(uuid))
        delete.append(" RETURNING id")
        let deleted = try await deleteRow(delete) { .portgroupNotEmpty(uuid) }
        if !deleted { throw IronicError.portgroupNotFound(uuid) }
    }
}

/// The `ports` table.
enum PortRow {
    static let columns = [
        "uuid", "address", "node_uuid", "portgroup_uuid", "local_link_connection", "pxe_enabled",
        "physical_network", "internal_info", "extra", "is_smartnic", "created_at", "updated_at",
    ]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")

    static func values(of port: NodePort) -> [SQLValue] {
        [
            .text(port.uuid),
            .text(port.address),
            .text(port.nodeUUID),
            .text(port.portgroupUUID),
            .json(port.localLinkConnection),
            .bool(port.pxeEnabled),
            .text(port.physicalNetwork),
            .json(port.internalInfo),
            .json(port.extra),
            .bool(port.isSmartNIC),
            .timestamp(port.createdAt),
            .timestamp(port.updatedAt),
        ]
    }

    static func decode(_ row: Cells) throws -> NodePort {
        var port = NodePort(uuid: try row[0], address: try row[1], nodeUUID: try row[2], createdAt: try row.date(10))
        port.portgroupUUID = try row[3]
        port.localLinkConnection = try row.object(4)
        port.pxeEnabled = try row[5]
        port.physicalNetwork = try row[6]
        port.internalInfo = try row.object(7)
        port.extra = try row.object(8)
        port.isSmartNIC = try row[9]
        port.updatedAt = try row.optionalDate(11)
        return port
    }

    static func fetchOne(_ store: PostgreSQLStore, uuid: String) async throws -> NodePort? {
        var select = SQLStatement("SELECT \(selection) FROM ports WHERE uuid = ")
        select.bind(.text(uuid))
        return try await store.fetch(select, decode).first
    }

    /// The `IronicError` for a constraint violation while writing `port`. As in the SQLite
    /// store, a missing node wins over a missing portgroup, so the node is looked up.
    static func conflict(_ violation: ConstraintViolation, _ port: NodePort, _ store: PostgreSQLStore) async throws
        -> any Error
    {
        switch violation.constraint {
        case "uniq_ports0address": return IronicError.macAlreadyExists(port.address)
        case "uniq_ports0uuid": return IronicError.alreadyExists("Port", uuid: port.uuid)
        case "ports_node_uuid_fkey", "ports_portgroup_uuid_fkey":
            if try await !store.exists("nodes", uuid: port.nodeUUID) { return IronicError.nodeNotFound(port.nodeUUID) }
            return IronicError.portgroupNotFound(port.portgroupUUID ?? "")
        default: return IronicError.internalError("Database error: unexpected violation of \(violation.constraint)")
        }
    }
}

/// The `portgroups` table.
enum PortgroupRow {
    static let columns = [
        "uuid", "name", "address", "node_uuid", "standalone_ports_supported", "mode", "properties",
        "internal_info", "extra", "created_at", "updated_at",
    ]
    static let immutable: Set<String> = ["uuid", "created_at"]
    static let selection = columns.joined(separator: ", ")

    static func values(of group: Portgroup) -> [SQLValue] {
        [
            .text(group.uuid),
            .text(group.name),
            .text(group.address),
            .text(group.nodeUUID),
            .bool(group.standalonePortsSupported),
            .text(group.mode),
            .json(group.properties),
            .json(group.internalInfo),
            .json(group.extra),
            .timestamp(group.createdAt),
            .timestamp(group.updatedAt),
        ]
    }

    static func decode(_ row: Cells) throws -> Portgroup {
        var group = Portgroup(uuid: try row[0], nodeUUID: try row[3], createdAt: try row.date(9))
        group.name = try row[1]
        group.address = try row[2]
        group.standalonePortsSupported = try row[4]
        group.mode = try row[5]
        group.properties = try row.object(6)
        group.internalInfo = try row.object(7)
        group.extra = try row.object(8)
        group.updatedAt = try row.optionalDate(10)
        return group
    }

    static func fetchOne(_ store: PostgreSQLStore, where column: String, _ value: String) async throws -> Portgroup? {
        var select = SQLStatement("SELECT \(selection) FROM portgroups WHERE \(column) = ")
        select.bind(.text(value))
        return try await store.fetch(select, decode).first
    }

    /// The `IronicError` for a constraint violation while writing `group`, with Ironic's codes.
    static func conflict(_ violation: ConstraintViolation, _ group: Portgroup) -> any Error {
        switch violation.constraint {
        case "uniq_portgroups0name":
            IronicError(
                status: 409, code: "PortgroupDuplicateName",
                message: "A portgroup with name \(group.name ?? "") already exists.")
        case "uniq_portgroups0address":
            IronicError(
                status: 409, code: "PortgroupMACAlreadyExists",
                message: "A portgroup with MAC address \(group.address ?? "") already exists.")
        case "uniq_portgroups0uuid": IronicError.alreadyExists("Portgroup", uuid: group.uuid)
        case "portgroups_node_uuid_fkey": IronicError.nodeNotFound(group.nodeUUID)
        default: IronicError.internalError("Database error: unexpected violation of \(violation.constraint)")
        }
    }
}
