import Core
import Foundation
import PostgresNIO
import Store

extension PostgreSQLStore {
    // MARK: Nodes

    /// Inserts a node, with its dates rounded to the microsecond (as they read back).
    /// Throws `NodeAlreadyExists`, `DuplicateName`, `InstanceAssociated`, or `ChassisNotFound`.
    public func createNode(_ node: Node) async throws -> Node {
        var node = node
        node.createdAt = ColumnCoding.normalized(node.createdAt)
        node.updatedAt = ColumnCoding.normalized(node.updatedAt)
        node.provisionUpdatedAt = ColumnCoding.normalized(node.provisionUpdatedAt)
        node.inspectionStartedAt = ColumnCoding.normalized(node.inspectionStartedAt)
        node.inspectionFinishedAt = ColumnCoding.normalized(node.inspectionFinishedAt)
        let created = node
        try await insert(TableRows.insert("nodes", NodeRow.columns, NodeRow.values(of: created))) {
            NodeRow.conflict($0, created)
        }
        return node
    }

    /// The node with this UUID. Throws `NodeNotFound`.
    public func node(uuid: String) async throws -> Node {
        guard let node = try await NodeRow.fetchOne(self, where: "uuid", uuid) else { throw IronicError.nodeNotFound(uuid) }
        return node
    }

    /// The node with this name. Throws `NodeNotFound`.
    public func node(name: String) async throws -> Node {
        guard let node = try await NodeRow.fetchOne(self, where: "name", name) else { throw IronicError.nodeNotFound(name) }
        return node
    }

    /// Nodes matching `query`, in its order, after its marker, at most `query.page.limit`.
    ///
    /// `descriptionContains` matches like the SQLite store's `LIKE`: ASCII letters ignore case
    /// (`ILIKE` on a "C"-collated column folds ASCII only).
    public func nodes(_ query: NodeQuery) async throws -> [Node] {
        var select = SelectBuilder(table: "nodes", columns: NodeRow.selection)
        select.equal("maintenance", query.maintenance)
        if let associated = query.associated {
            select.condition(associated ? "instance_uuid IS NOT NULL" : "instance_uuid IS NULL")
        }
        select.equal("provision_state", query.provisionState?.rawValue)
        select.equal("driver", query.driver)
        select.equal("resource_class", query.resourceClass)
        select.equal("conductor_group", query.conductorGroup)
        select.equal("fault", query.fault)
        select.equal("instance_uuid", query.instanceUUID)
        select.equal("owner", query.owner)
        select.equal("lessee", query.lessee)
        select.equal("chassis_uuid", query.chassisUUID)
        select.equal("retired", query.retired)
        select.equal("reservation", query.reservation)
        if let reserved = query.reserved {
            select.condition(reserved ? "reservation IS NOT NULL" : "reservation IS NULL")
        }
        if let text = query.descriptionContains {
            select.condition("description ILIKE $? ESCAPE '\\'", .text(text.likeContainsPattern))
        }
        try await select.page(query.page, sortKeys: NodeQuery.sortKeys, store: self)
        return try await fetch(select.sql, NodeRow.decode)
    }

    /// Writes every field of `node` except `reservation` and `createdAt`, stamps `updatedAt`,
    /// and returns the node as stored (with the current reservation, whoever holds it).
    /// Throws `NodeNotFound`, `DuplicateName`, `InstanceAssociated` or `ChassisNotFound`.
    public func saveNode(_ node: Node) async throws -> Node {
        var node = node
        node.updatedAt = Date()
        let saved = node
        return try await updateRow(
            TableRows.update(
                "nodes", NodeRow.columns, NodeRow.values(of: saved), except: NodeRow.immutable, uuid: saved.uuid,
                returning: NodeRow.selection),
            decode: NodeRow.decode,
            conflict: { NodeRow.conflict($0, saved) },
            notFound: { .nodeNotFound(saved.uuid) })
    }

    /// Deletes a node with its ports, portgroups and history, in one transaction. Throws `NodeNotFound`.
    public func deleteNode(uuid: String) async throws {
        try await transaction { tx in
            // Ports first: they may reference the node's portgroups.
            for table in ["ports", "portgroups", "node_history", "node_inventory"] {
                var delete = SQLStatement("DELETE FROM \(table) WHERE node_uuid = ")
                delete.bind(.text(uuid))
                try await tx.run(delete)
            }
            var delete = SQLStatement("DELETE FROM nodes WHERE uuid = ")
            delete.bind(.text(uuid))
            delete.append(" RETURNING id")
            // Nothing was deleted if the node is missing; throwing rolls back nothing.
            if try await tx.run(delete) == 0 { throw IronicError.nodeNotFound(uuid) }
        }
    }

    /// Takes the node's lock with one `UPDATE ... WHERE reservation IS NULL RETURNING ...`: of
    /// concurrent callers, in this process or another, exactly one changes the row (the others
    /// wait for its row lock, then find the reservation set). Like Ironic, a conductor that
    /// already holds the lock is refused too. Throws `NodeLocked` (naming the node by UUID and
    /// the holder) or `NodeNotFound`.
    public func reserveNode(uuid: String, conductor: String) async throws -> Node {
        var update = SQLStatement("UPDATE nodes SET reservation = ")
        update.bind(.text(conductor))
        update.append(" WHERE uuid = ")
        update.bind(.text(uuid))
        update.append(" AND reservation IS NULL RETURNING \(NodeRow.selection)")
        if let node = try await fetch(update, NodeRow.decode).first { return node }
        throw try await lockRefusal(uuid)
    }

    /// One conditional `UPDATE ... WHERE reservation = holder RETURNING`: exactly one taker wins.
    public func takeOverReservation(uuid: String, from holder: String, to conductor: String) async throws -> Node {
        var update = SQLStatement("UPDATE nodes SET reservation = ")
        update.bind(.text(conductor))
        update.append(" WHERE uuid = ")
        update.bind(.text(uuid))
        update.append(" AND reservation = ")
        update.bind(.text(holder))
        update.append(" RETURNING \(NodeRow.selection)")
        if let node = try await fetch(update, NodeRow.decode).first { return node }
        throw try await lockRefusal(uuid)
    }

    /// Why a conditional lock update changed nothing: `NodeLocked` naming the holder, or
    /// `NodeNotFound`.
    private func lockRefusal(_ uuid: String) async throws -> IronicError {
        var holder = SQLStatement("SELECT reservation FROM nodes WHERE uuid = ")
        holder.bind(.text(uuid))
        guard let row = try await rows(holder).first else { return .nodeNotFound(uuid) }
        return .nodeLocked(uuid, host: try Cells(row)[0] as String? ?? "")
    }

    /// Releases the lock if `conductor` holds it; a no-op otherwise (also for a missing node).
    public func releaseNode(uuid: String, conductor: String) async throws {
        var update = SQLStatement("UPDATE nodes SET reservation = NULL WHERE uuid = ")
        update.bind(.text(uuid))
        update.append(" AND reservation = ")
        update.bind(.text(conductor))
        _ = try await rows(update)
    }

    /// Releases every lock `conductor` holds in one statement; returns the UUIDs of the nodes
    /// released, oldest first.
    public func releaseReservations(heldBy conductor: String) async throws -> [String] {
        var update = SQLStatement("UPDATE nodes SET reservation = NULL WHERE reservation = ")
        update.bind(.text(conductor))
        update.append(" RETURNING id, uuid")
        let released = try await fetch(update) { (try $0[0] as Int64, try $0[1] as String) }
        return released.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

/// The `nodes` table: its columns in one order shared by reads and writes.
enum NodeRow {
    /// Every column but `id`, in the order of `values(of:)` and `decode(_:)`.
    static let columns = [
        "uuid", "name", "chassis_uuid", "instance_uuid", "driver",
        "driver_info", "driver_internal_info", "instance_info", "properties", "extra",
        "clean_step", "deploy_step", "service_step", "raid_config", "target_raid_config", "network_data",
        "reservation", "conductor_affinity", "conductor_group",
        "power_state", "target_power_state", "provision_state", "target_provision_state", "provision_updated_at",
        "maintenance", "maintenance_reason", "fault", "console_enabled", "last_error", "resource_class",
        "inspection_started_at", "inspection_finished_at", "automated_clean",
        "protected", "protected_reason", "retired", "retired_reason", "owner", "lessee", "description",
        "allocation_uuid", "boot_mode", "secure_boot", "interfaces", "traits", "created_at", "updated_at",
    ]

    /// Columns `saveNode` leaves alone: the key, the lock and the creation date.
    static let immutable: Set<String> = ["uuid", "reservation", "created_at"]

    static let selection = columns.joined(separator: ", ")

    /// Column values of `node`, in `columns` order.
    static func values(of node: Node) -> [SQLValue] {
        [
            .text(node.uuid),
            .text(node.name),
            .text(node.chassisUUID),
            .text(node.instanceUUID),
            .text(node.driver),
            .json(node.driverInfo),
            .json(node.driverInternalInfo),
            .json(node.instanceInfo),
            .json(node.properties),
            .json(node.extra),
            .json(node.cleanStep),
            .json(node.deployStep),
            .json(node.serviceStep),
            .json(node.raidConfig),
            .json(node.targetRAIDConfig),
            .json(node.networkData),
            .text(node.reservation),
            .text(node.conductorAffinity),
            .text(node.conductorGroup),
            .text(node.powerState?.rawValue),
            .text(node.targetPowerState?.rawValue),
            .text(node.provisionState.rawValue),
            .text(node.targetProvisionState?.rawValue),
            .timestamp(node.provisionUpdatedAt),
            .bool(node.maintenance),
            .text(node.maintenanceReason),
            .text(node.fault),
            .bool(node.consoleEnabled),
            .text(node.lastError),
            .text(node.resourceClass),
            .timestamp(node.inspectionStartedAt),
            .timestamp(node.inspectionFinishedAt),
            .bool(node.automatedClean),
            .bool(node.protected),
            .text(node.protectedReason),
            .bool(node.retired),
            .text(node.retiredReason),
            .text(node.owner),
            .text(node.lessee),
            .text(node.description),
            .text(node.allocationUUID),
            .text(node.bootMode),
            .bool(node.secureBoot),
            .text(ColumnCoding.json(node.interfaces)),
            .text(ColumnCoding.json(node.traits)),
            .timestamp(node.createdAt),
            .timestamp(node.updatedAt),
        ]
    }

    /// The node in a row selected with `selection`.
    static func decode(_ row: Cells) throws -> Node {
        var node = Node(uuid: try row[0], driver: try row[4], createdAt: try row.date(45))
        node.name = try row[1]
        node.chassisUUID = try row[2]
        node.instanceUUID = try row[3]
        node.driverInfo = try row.object(5)
        node.driverInternalInfo = try row.object(6)
        node.instanceInfo = try row.object(7)
        node.properties = try row.object(8)
        node.extra = try row.object(9)
        node.cleanStep = try row.object(10)
        node.deployStep = try row.object(11)
        node.serviceStep = try row.object(12)
        node.raidConfig = try row.object(13)
        node.targetRAIDConfig = try row.object(14)
        node.networkData = try row.object(15)
        node.reservation = try row[16]
        node.conductorAffinity = try row[17]
        node.conductorGroup = try row[18]
        node.powerState = (try row[19] as String?).flatMap(PowerState.init(rawValue:))
        node.targetPowerState = (try row[20] as String?).flatMap(PowerState.init(rawValue:))
        let provisionState: String = try row[21]
        guard let state = ProvisionState(rawValue: provisionState) else {
            throw IronicError.internalError("Node \(node.uuid) has an unknown provision state \"\(provisionState)\".")
        }
        node.provisionState = state
        node.targetProvisionState = (try row[22] as String?).flatMap(ProvisionState.init(rawValue:))
        node.provisionUpdatedAt = try row.optionalDate(23)
        node.maintenance = try row[24]
        node.maintenanceReason = try row[25]
        node.fault = try row[26]
        node.consoleEnabled = try row[27]
        node.lastError = try row[28]
        node.resourceClass = try row[29]
        node.inspectionStartedAt = try row.optionalDate(30)
        node.inspectionFinishedAt = try row.optionalDate(31)
        node.automatedClean = try row[32]
        node.protected = try row[33]
        node.protectedReason = try row[34]
        node.retired = try row[35]
        node.retiredReason = try row[36]
        node.owner = try row[37]
        node.lessee = try row[38]
        node.description = try row[39]
        node.allocationUUID = try row[40]
        node.bootMode = try row[41]
        node.secureBoot = try row[42]
        node.interfaces = try ColumnCoding.interfaces(try row[43] as String)
        node.traits = try ColumnCoding.strings(try row[44] as String)
        node.updatedAt = try row.optionalDate(46)
        return node
    }

    /// The node whose `column` (`uuid` or `name`) is `value`.
    static func fetchOne(_ store: PostgreSQLStore, where column: String, _ value: String) async throws -> Node? {
        var select = SQLStatement("SELECT \(selection) FROM nodes WHERE \(column) = ")
        select.bind(.text(value))
        return try await store.fetch(select, decode).first
    }

    /// The `IronicError` for a constraint violation while writing `node`.
    static func conflict(_ violation: ConstraintViolation, _ node: Node) -> any Error {
        switch violation.constraint {
        case "uniq_nodes0uuid": IronicError.nodeAlreadyExists(uuid: node.uuid)
        case "uniq_nodes0name": IronicError.duplicateName(node.name ?? "")
        case "uniq_nodes0instance_uuid": IronicError.instanceAssociated(instance: node.instanceUUID ?? "", node: node.uuid)
        case "nodes_chassis_uuid_fkey": IronicError.chassisNotFound(node.chassisUUID ?? "")
        default: IronicError.internalError("Database error: unexpected violation of \(violation.constraint)")
        }
    }
}

/// SQL shared by the tables whose rows are written whole.
enum TableRows {
    /// `INSERT INTO table (columns) VALUES ($1, ...)`.
    static func insert(_ table: String, _ columns: [String], _ values: [SQLValue]) -> SQLStatement {
        var sql = SQLStatement("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (")
        sql.bindList(values)
        sql.append(")")
        return sql
    }

    /// `UPDATE table SET column = $n, ... WHERE uuid = $m RETURNING returning`, skipping `except`.
    static func update(
        _ table: String, _ columns: [String], _ values: [SQLValue], except: Set<String>, uuid: String, returning: String
    ) -> SQLStatement {
        var sql = SQLStatement("UPDATE \(table) SET ")
        var first = true
        for (column, value) in zip(columns, values) where !except.contains(column) {
            sql.append(first ? "\(column) = " : ", \(column) = ")
            sql.bind(value)
            first = false
        }
        sql.append(" WHERE uuid = ")
        sql.bind(.text(uuid))
        sql.append(" RETURNING \(returning)")
        return sql
    }
}
