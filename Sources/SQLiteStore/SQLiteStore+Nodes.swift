import Core
import Foundation
import GRDB
import Store

extension SQLiteStore {
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
        let arguments = StatementArguments(NodeRow.values(of: node))
        let created = node
        try await write { db in
            do {
                try db.cachedStatement(sql: NodeRow.insertSQL).execute(arguments: arguments)
            } catch let error as DatabaseError {
                throw NodeRow.conflict(error, created)
            }
        }
        return node
    }

    /// The node with this UUID. Throws `NodeNotFound`.
    public func node(uuid: String) async throws -> Node {
        try await read { db in
            guard let node = try NodeRow.fetchOne(db, where: "uuid", uuid) else { throw IronicError.nodeNotFound(uuid) }
            return node
        }
    }

    /// The node with this name. Throws `NodeNotFound`.
    public func node(name: String) async throws -> Node {
        try await read { db in
            guard let node = try NodeRow.fetchOne(db, where: "name", name) else { throw IronicError.nodeNotFound(name) }
            return node
        }
    }

    /// Nodes matching `query`, in its order, after its marker, at most `query.page.limit`.
    ///
    /// `descriptionContains` matches like SQL `LIKE`: ASCII letters ignore case.
    public func nodes(_ query: NodeQuery) async throws -> [Node] {
        try await read { db in
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
                select.condition("description LIKE ? ESCAPE '\\'", text.likeContainsPattern.databaseValue)
            }
            try select.page(query.page, sortKeys: NodeQuery.sortKeys, db: db)
            return try select.fetch(db, NodeRow.decode)
        }
    }

    /// Writes every field of `node` except `reservation` and `createdAt`, stamps `updatedAt`,
    /// and returns the node as stored (with the current reservation).
    /// Throws `NodeNotFound`, `DuplicateName`, `InstanceAssociated` or `ChassisNotFound`.
    public func saveNode(_ node: Node) async throws -> Node {
        var node = node
        node.updatedAt = Date()
        let saved = node
        return try await updateRow(
            sql: NodeRow.updateSQL, arguments: StatementArguments(NodeRow.updateValues(of: saved)),
            conflict: { error, _ in NodeRow.conflict(error, saved) },
            fetch: { db in try NodeRow.fetchOne(db, where: "uuid", saved.uuid) },
            notFound: { .nodeNotFound(saved.uuid) })
    }

    /// Deletes a node with its ports, portgroups and history. Throws `NodeNotFound`.
    public func deleteNode(uuid: String) async throws {
        try await write { db in
            // Ports first: they may reference the node's portgroups.
            try db.execute(sql: "DELETE FROM ports WHERE node_uuid = ?", arguments: [uuid])
            try db.execute(sql: "DELETE FROM portgroups WHERE node_uuid = ?", arguments: [uuid])
            try db.execute(sql: "DELETE FROM node_history WHERE node_uuid = ?", arguments: [uuid])
            try db.execute(sql: "DELETE FROM node_inventory WHERE node_uuid = ?", arguments: [uuid])
            try db.execute(sql: "DELETE FROM nodes WHERE uuid = ?", arguments: [uuid])
            // Nothing was deleted if the node is missing, so the transaction may commit either way.
            if db.changesCount == 0 { throw IronicError.nodeNotFound(uuid) }
        }
    }

    /// Takes the node's lock with `UPDATE ... WHERE reservation IS NULL`: of concurrent callers,
    /// in this process or another, exactly one changes the row. Like Ironic, a conductor that
    /// already holds the lock is refused too. Throws `NodeLocked` (naming the node by UUID and
    /// the holder) or `NodeNotFound`.
    public func reserveNode(uuid: String, conductor: String) async throws -> Node {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE nodes SET reservation = ? WHERE uuid = ? AND reservation IS NULL")
                .execute(arguments: [conductor, uuid])
            if db.changesCount == 0 {
                throw try Self.lockRefusal(db, uuid)
            }
            guard let node = try NodeRow.fetchOne(db, where: "uuid", uuid) else { throw IronicError.nodeNotFound(uuid) }
            return node
        }
    }

    public func takeOverReservation(uuid: String, from holder: String, to conductor: String) async throws -> Node {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE nodes SET reservation = ? WHERE uuid = ? AND reservation = ?")
                .execute(arguments: [conductor, uuid, holder])
            if db.changesCount == 0 {
                throw try Self.lockRefusal(db, uuid)
            }
            guard let node = try NodeRow.fetchOne(db, where: "uuid", uuid) else { throw IronicError.nodeNotFound(uuid) }
            return node
        }
    }

    /// Why a conditional lock update changed nothing: `NodeLocked` naming the holder, or
    /// `NodeNotFound`.
    private static func lockRefusal(_ db: Database, _ uuid: String) throws -> IronicError {
        let holder = try Row.fetchOne(db.cachedStatement(sql: "SELECT reservation FROM nodes WHERE uuid = ?"), arguments: [uuid])
        guard let holder else { return .nodeNotFound(uuid) }
        return .nodeLocked(uuid, host: holder[0] as String? ?? "")
    }

    /// Releases the lock if `conductor` holds it; a no-op otherwise (also for a missing node).
    public func releaseNode(uuid: String, conductor: String) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE nodes SET reservation = NULL WHERE uuid = ? AND reservation = ?")
                .execute(arguments: [uuid, conductor])
        }
    }

    /// Releases every lock `conductor` holds; returns the UUIDs of the nodes released, oldest first.
    public func releaseReservations(heldBy conductor: String) async throws -> [String] {
        try await write { db in
            let uuids = try String.fetchAll(
                db.cachedStatement(sql: "SELECT uuid FROM nodes WHERE reservation = ? ORDER BY id"),
                arguments: [conductor])
            if !uuids.isEmpty {
                try db.cachedStatement(sql: "UPDATE nodes SET reservation = NULL WHERE reservation = ?")
                    .execute(arguments: [conductor])
            }
            return uuids
        }
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

    static let insertSQL = Columns.insertSQL(table: "nodes", columns: columns)
    static let updateSQL = Columns.updateSQL(table: "nodes", columns: columns, except: immutable)

    /// Column values of `node`, in `columns` order.
    static func values(of node: Node) -> [DatabaseValue] {
        [
            node.uuid.databaseValue,
            node.name.databaseValue,
            node.chassisUUID.databaseValue,
            node.instanceUUID.databaseValue,
            node.driver.databaseValue,
            ColumnCoding.json(node.driverInfo).databaseValue,
            ColumnCoding.json(node.driverInternalInfo).databaseValue,
            ColumnCoding.json(node.instanceInfo).databaseValue,
            ColumnCoding.json(node.properties).databaseValue,
            ColumnCoding.json(node.extra).databaseValue,
            ColumnCoding.json(node.cleanStep).databaseValue,
            ColumnCoding.json(node.deployStep).databaseValue,
            ColumnCoding.json(node.serviceStep).databaseValue,
            ColumnCoding.json(node.raidConfig).databaseValue,
            ColumnCoding.json(node.targetRAIDConfig).databaseValue,
            ColumnCoding.json(node.networkData).databaseValue,
            node.reservation.databaseValue,
            node.conductorAffinity.databaseValue,
            node.conductorGroup.databaseValue,
            node.powerState?.rawValue.databaseValue ?? .null,
            node.targetPowerState?.rawValue.databaseValue ?? .null,
            node.provisionState.rawValue.databaseValue,
            node.targetProvisionState?.rawValue.databaseValue ?? .null,
            node.provisionUpdatedAt.micros.databaseValue,
            node.maintenance.databaseValue,
            node.maintenanceReason.databaseValue,
            node.fault.databaseValue,
            node.consoleEnabled.databaseValue,
            node.lastError.databaseValue,
            node.resourceClass.databaseValue,
            node.inspectionStartedAt.micros.databaseValue,
            node.inspectionFinishedAt.micros.databaseValue,
            node.automatedClean.databaseValue,
            node.protected.databaseValue,
            node.protectedReason.databaseValue,
            node.retired.databaseValue,
            node.retiredReason.databaseValue,
            node.owner.databaseValue,
            node.lessee.databaseValue,
            node.description.databaseValue,
            node.allocationUUID.databaseValue,
            node.bootMode.databaseValue,
            node.secureBoot.databaseValue,
            ColumnCoding.json(node.interfaces).databaseValue,
            ColumnCoding.json(node.traits).databaseValue,
            ColumnCoding.micros(node.createdAt).databaseValue,
            node.updatedAt.micros.databaseValue,
        ]
    }

    /// Arguments of `updateSQL`: the mutable columns, then the UUID.
    static func updateValues(of node: Node) -> [DatabaseValue] {
        Columns.updateValues(columns: columns, values: values(of: node), except: immutable, key: node.uuid)
    }

    /// The node in a row selected with `selection`.
    static func decode(_ row: Row) throws -> Node {
        var node = Node(uuid: row[0], driver: row[4], createdAt: row.date(45))
        node.name = row[1]
        node.chassisUUID = row[2]
        node.instanceUUID = row[3]
        node.driverInfo = try ColumnCoding.object(row[5])
        node.driverInternalInfo = try ColumnCoding.object(row[6])
        node.instanceInfo = try ColumnCoding.object(row[7])
        node.properties = try ColumnCoding.object(row[8])
        node.extra = try ColumnCoding.object(row[9])
        node.cleanStep = try ColumnCoding.object(row[10])
        node.deployStep = try ColumnCoding.object(row[11])
        node.serviceStep = try ColumnCoding.object(row[12])
        node.raidConfig = try ColumnCoding.object(row[13])
        node.targetRAIDConfig = try ColumnCoding.object(row[14])
        node.networkData = try ColumnCoding.object(row[15])
        node.reservation = row[16]
        node.conductorAffinity = row[17]
        node.conductorGroup = row[18]
        node.powerState = (row[19] as String?).flatMap(PowerState.init(rawValue:))
        node.targetPowerState = (row[20] as String?).flatMap(PowerState.init(rawValue:))
        let provisionState: String = row[21]
        guard let state = ProvisionState(rawValue: provisionState) else {
            throw IronicError.internalError("Node \(node.uuid) has an unknown provision state \"\(provisionState)\".")
        }
        node.provisionState = state
        node.targetProvisionState = (row[22] as String?).flatMap(ProvisionState.init(rawValue:))
        node.provisionUpdatedAt = row.optionalDate(23)
        node.maintenance = row[24]
        node.maintenanceReason = row[25]
        node.fault = row[26]
        node.consoleEnabled = row[27]
        node.lastError = row[28]
        node.resourceClass = row[29]
        node.inspectionStartedAt = row.optionalDate(30)
        node.inspectionFinishedAt = row.optionalDate(31)
        node.automatedClean = row[32]
        node.protected = row[33]
        node.protectedReason = row[34]
        node.retired = row[35]
        node.retiredReason = row[36]
        node.owner = row[37]
        node.lessee = row[38]
        node.description = row[39]
        node.allocationUUID = row[40]
        node.bootMode = row[41]
        node.secureBoot = row[42]
        node.interfaces = try ColumnCoding.interfaces(row[43])
        node.traits = try ColumnCoding.strings(row[44])
        node.updatedAt = row.optionalDate(46)
        return node
    }

    /// The node whose `column` (`uuid` or `name`) is `value`.
    static func fetchOne(_ db: Database, where column: String, _ value: String) throws -> Node? {
        let statement = try db.cachedStatement(sql: "SELECT \(selection) FROM nodes WHERE \(column) = ?")
        guard let row = try Row.fetchOne(statement, arguments: [value]) else { return nil }
        return try decode(row)
    }

    /// The `IronicError` for a constraint violation while writing `node`.
    static func conflict(_ error: DatabaseError, _ node: Node) -> any Error {
        let columns = error.uniqueColumns
        if columns.contains("nodes.uuid") { return IronicError.nodeAlreadyExists(uuid: node.uuid) }
        if columns.contains("nodes.name") { return IronicError.duplicateName(node.name ?? "") }
        if columns.contains("nodes.instance_uuid") {
            return IronicError.instanceAssociated(instance: node.instanceUUID ?? "", node: node.uuid)
        }
        if error.isForeignKeyViolation { return IronicError.chassisNotFound(node.chassisUUID ?? "") }
        return error
    }
}
