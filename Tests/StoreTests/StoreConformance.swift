import Core
import Foundation
import Store
import Testing

/// Checks every `Store` backend must pass, written against `any Store` so that each backend's
/// test file only supplies fresh, upgraded stores (see `Backend`).
enum StoreConformance {
    // MARK: Fixtures

    /// A date with sub-microsecond noise, to check that stores round it consistently.
    static func date(_ seconds: Double) -> Date {
        Date(timeIntervalSince1970: 1_700_000_000 + seconds + 0.000_000_3)
    }

    /// A node with every field set to something other than its default.
    static func fullNode(uuid: String = UUID().uuidString.lowercased(), name: String = "node-full",
                         chassis: String? = nil) -> Node {
        var node = Node(uuid: uuid, driver: "ipmi", createdAt: date(0.123_456_7))
        node.name = name
        node.chassisUUID = chassis
        node.instanceUUID = UUID().uuidString.lowercased()
        node.driverInfo = [
            "ipmi_address": "10.0.0.1", "ipmi_port": 623, "ipmi_password": "s3cr\"et\\\n\t",
            "ipmi_bridging": nil,
        ]
        node.driverInternalInfo = [
            "agent_url": "http://10.0.0.2:9999",
            "nested": ["list": [1, .double(2.5), .double(1.0), .double(-0.1), .double(1e21), true, false, nil, [:], []]],
            "big": .int(Int.max), "negative": -42,
        ]
        node.instanceInfo = ["image_source": "http://images/ubuntu.qcow2", "root_gb": 10]
        node.properties = ["cpus": 8, "memory_mb": 16384, "capabilities": "boot_mode:uefi,secure_boot:true"]
        node.extra = ["é": "ünïcødé 🚀 \u{2028}", "ctl": "\u{01}\u{1F}\u{7F}", "slash": "a/b", "empty": ""]
        node.cleanStep = ["step": "erase_devices", "priority": 10, "interface": "deploy", "args": [:]]
        node.deployStep = ["step": "deploy", "priority": 100, "interface": "deploy"]
        node.serviceStep = ["step": "update", "priority": 1, "interface": "firmware"]
        node.raidConfig = ["logical_disks": [["size_gb": 100, "raid_level": "1", "is_root_volume": true]]]
        node.targetRAIDConfig = ["logical_disks": [["size_gb": "MAX", "raid_level": "5"]]]
        node.networkData = ["links": [["id": "eth0", "type": "phy"]], "networks": [], "services": []]
        node.reservation = "conductor-x"
        node.conductorAffinity = "conductor-y"
        node.conductorGroup = "rack-1"
        node.powerState = .on
        node.targetPowerState = .off
        node.provisionState = .deployWait
        node.targetProvisionState = .active
        node.provisionUpdatedAt = date(10.5)
        node.maintenance = true
        node.maintenanceReason = "fan failure"
        node.fault = Fault.powerFailure.rawValue
        node.consoleEnabled = true
        node.lastError = "IPMI timeout"
        node.resourceClass = "baremetal-large"
        node.inspectionStartedAt = date(20.25)
        node.inspectionFinishedAt = date(21.75)
        node.automatedClean = false
        node.protected = true
        node.protectedReason = "production"
        node.retired = true
        node.retiredReason = "end of life"
        node.owner = "project-a"
        node.lessee = "project-b"
        node.description = "rack 1, slot 4"
        node.allocationUUID = UUID().uuidString.lowercased()
        node.bootMode = "uefi"
        node.secureBoot = true
        node.interfaces = Dictionary(uniqueKeysWithValues: InterfaceKind.allCases.map { ($0, "impl-\($0.rawValue)") })
        node.traits = ["CUSTOM_GPU", "HW_CPU_X86_AVX2"]
        node.updatedAt = date(30.000_001)
        return node
    }

    static func node(_ name: String? = nil, configure: (inout Node) -> Void = { _ in }) -> Node {
        var node = Node(driver: "fake-hardware")
        node.name = name
        configure(&node)
        return node
    }

    static func markerNotFound(_ marker: String) -> IronicError {
        IronicError(status: 400, code: "MarkerNotFound", message: "Marker \(marker) could not be found.")
    }

    /// Every page of `page.limit` items, following markers.
    static func allPages<T>(limit: Int, uuid: (T) -> String, fetch: (PageQuery) async throws -> [T], base: PageQuery)
        async throws -> [T]
    {
        var result: [T] = []
        var page = base
        page.limit = limit
        while true {
            let items = try await fetch(page)
            #expect(items.count <= limit)
            result += items
            guard items.count == limit, let last = items.last else { return result }
            page.marker = uuid(last)
        }
    }

    // MARK: Nodes

    /// Every field of a node survives create and read, by UUID and by name.
    static func nodeRoundTrip(_ store: any Store) async throws {
        let chassis = try await store.createChassis(Chassis())
        let node = fullNode(chassis: chassis.uuid)

        // The fixture must set every field, so a new Node field is noticed here.
        let defaults = Node(uuid: node.uuid, driver: node.driver, createdAt: node.createdAt)
        let unset = zip(Mirror(reflecting: node).children, Mirror(reflecting: defaults).children)
            .filter { "\($0.value)" == "\($1.value)" }
            .compactMap(\.0.label)
        #expect(unset.sorted() == ["createdAt", "driver", "uuid"])

        let created = try await store.createNode(node)
        #expect(abs(created.createdAt.timeIntervalSince(node.createdAt)) < 0.000_001)
        #expect(abs(created.updatedAt!.timeIntervalSince(node.updatedAt!)) < 0.000_001)
        var expected = created
        expected.createdAt = node.createdAt
        expected.updatedAt = node.updatedAt
        expected.provisionUpdatedAt = node.provisionUpdatedAt
        expected.inspectionStartedAt = node.inspectionStartedAt
        expected.inspectionFinishedAt = node.inspectionFinishedAt
        #expect(expected == node, "only dates may be rounded")

        let byUUID = try await store.node(uuid: node.uuid)
        #expect(byUUID == created)
        let byName = try await store.node(name: "node-full")
        #expect(byName == created)
        #expect(try await store.nodes(NodeQuery()) == [created])

        // A minimal node keeps its defaults.
        let minimal = try await store.createNode(Node(driver: "fake-hardware"))
        #expect(try await store.node(uuid: minimal.uuid) == minimal)
    }

    /// `saveNode` writes every field but the reservation and stamps `updatedAt`.
    static func saveNode(_ store: any Store) async throws {
        let created = try await store.createNode(Self.node("save-me"))
        _ = try await store.reserveNode(uuid: created.uuid, conductor: "holder")

        var changed = fullNode(uuid: created.uuid, name: "saved")
        changed.createdAt = created.createdAt
        changed.reservation = nil
        let before = Date()
        let saved = try await store.saveNode(changed)
        #expect(saved.reservation == "holder")
        let updatedAt = try #require(saved.updatedAt)
        #expect(updatedAt >= before.addingTimeInterval(-0.001))
        #expect(try await store.node(uuid: created.uuid) == saved)

        var expected = changed
        expected.reservation = "holder"
        expected.updatedAt = saved.updatedAt
        expected.provisionUpdatedAt = saved.provisionUpdatedAt
        expected.inspectionStartedAt = saved.inspectionStartedAt
        expected.inspectionFinishedAt = saved.inspectionFinishedAt
        #expect(saved == expected)

        // A reservation in the saved value is ignored too.
        changed.reservation = "intruder"
        #expect(try await store.saveNode(changed).reservation == "holder")

        // The old name is free again; the new one is taken.
        _ = try await store.createNode(Self.node("save-me"))
        await #expect(throws: IronicError.duplicateName("saved")) {
            try await store.createNode(Self.node("saved"))
        }
        await #expect(throws: IronicError.nodeNotFound("save-me-2")) { try await store.node(name: "save-me-2") }
        await #expect(throws: IronicError.nodeNotFound("missing")) {
            try await store.saveNode(Node(uuid: "missing", driver: "fake-hardware"))
        }
    }

    /// Unique constraints become Ironic's conflict errors.
    static func nodeConflicts(_ store: any Store) async throws {
        let first = try await store.createNode(Self.node("one") { $0.instanceUUID = "instance-1" })
        await #expect(throws: IronicError.nodeAlreadyExists(uuid: first.uuid)) {
            try await store.createNode(Node(uuid: first.uuid, driver: "fake-hardware"))
        }
        await #expect(throws: IronicError.duplicateName("one")) { try await store.createNode(Self.node("one")) }
        let other = node("two") { $0.instanceUUID = "instance-1" }
        await #expect(throws: IronicError.instanceAssociated(instance: "instance-1", node: other.uuid)) {
            try await store.createNode(other)
        }

        // The same through saveNode.
        var second = try await store.createNode(Self.node("two"))
        second.name = "one"
        await #expect(throws: IronicError.duplicateName("one")) { try await store.saveNode(second) }
        second.name = "two"
        second.instanceUUID = "instance-1"
        await #expect(throws: IronicError.instanceAssociated(instance: "instance-1", node: second.uuid)) {
            try await store.saveNode(second)
        }
        // Nodes without a name or instance do not collide.
        _ = try await store.createNode(Self.node())
        _ = try await store.createNode(Self.node())
        #expect(try await store.nodes(NodeQuery()).count == 4)
    }

    /// Missing nodes are `NodeNotFound`.
    static func nodeNotFound(_ store: any Store) async throws {
        await #expect(throws: IronicError.nodeNotFound("nope")) { try await store.node(uuid: "nope") }
        await #expect(throws: IronicError.nodeNotFound("nope")) { try await store.node(name: "nope") }
        await #expect(throws: IronicError.nodeNotFound("nope")) { try await store.deleteNode(uuid: "nope") }
        await #expect(throws: IronicError.nodeNotFound("nope")) {
            try await store.reserveNode(uuid: "nope", conductor: "c1")
        }
        try await store.releaseNode(uuid: "nope", conductor: "c1")
        await #expect(throws: IronicError.chassisNotFound("no-chassis")) {
            try await store.createNode(Self.node { $0.chassisUUID = "no-chassis" })
        }
    }

    /// Each `NodeQuery` filter selects exactly the matching nodes.
    static func nodeFilters(_ store: any Store) async throws {
        let chassis = try await store.createChassis(Chassis())
        let plain = try await store.createNode(Self.node("plain"))
        let rich = try await store.createNode(
            node("rich") {
                $0.maintenance = true
                $0.instanceUUID = "instance-9"
                $0.provisionState = .active
                $0.driver = "ipmi"
                $0.resourceClass = "gpu"
                $0.conductorGroup = "rack-2"
                $0.fault = Fault.cleanFailure.rawValue
                $0.owner = "alice"
                $0.lessee = "bob"
                $0.chassisUUID = chassis.uuid
                $0.retired = true
                $0.description = "Has 100% GPU_load\\ here"
            })
        let other = try await store.createNode(Self.node("other") { $0.description = "Has 100 GPUxload here" })
        _ = try await store.reserveNode(uuid: rich.uuid, conductor: "c1")

        func names(_ configure: (inout NodeQuery) -> Void) async throws -> [String] {
            var query = NodeQuery()
            configure(&query)
            return try await store.nodes(query).compactMap(\.name)
        }
        #expect(try await names { _ in } == ["plain", "rich", "other"])
        #expect(try await names { $0.maintenance = true } == ["rich"])
        #expect(try await names { $0.maintenance = false } == ["plain", "other"])
        #expect(try await names { $0.associated = true } == ["rich"])
        #expect(try await names { $0.associated = false } == ["plain", "other"])
        #expect(try await names { $0.provisionState = .active } == ["rich"])
        #expect(try await names { $0.provisionState = .enroll } == ["plain", "other"])
        #expect(try await names { $0.driver = "ipmi" } == ["rich"])
        #expect(try await names { $0.resourceClass = "gpu" } == ["rich"])
        #expect(try await names { $0.conductorGroup = "rack-2" } == ["rich"])
        #expect(try await names { $0.conductorGroup = "" } == ["plain", "other"])
        #expect(try await names { $0.fault = Fault.cleanFailure.rawValue } == ["rich"])
        #expect(try await names { $0.instanceUUID = "instance-9" } == ["rich"])
        #expect(try await names { $0.owner = "alice" } == ["rich"])
        #expect(try await names { $0.lessee = "bob" } == ["rich"])
        #expect(try await names { $0.chassisUUID = chassis.uuid } == ["rich"])
        #expect(try await names { $0.retired = true } == ["rich"])
        #expect(try await names { $0.retired = false } == ["plain", "other"])
        #expect(try await names { $0.reservation = "c1" } == ["rich"])
        #expect(try await names { $0.reservation = "c2" } == [])
        #expect(try await names { $0.reserved = true } == ["rich"])
        #expect(try await names { $0.reserved = false } == ["plain", "other"])
        // LIKE wildcards in the filter are literal.
        #expect(try await names { $0.descriptionContains = "100% GPU_load\\" } == ["rich"])
        #expect(try await names { $0.descriptionContains = "100" } == ["rich", "other"])
        #expect(try await names { $0.descriptionContains = "%" } == ["rich"])
        #expect(try await names { $0.descriptionContains = "_" } == ["rich"])
        #expect(try await names { $0.descriptionContains = "nothing" } == [])
        // Filters combine with AND.
        #expect(try await names { $0.maintenance = true; $0.owner = "bob" } == [])
        #expect(try await names { $0.maintenance = false; $0.descriptionContains = "GPU" } == ["other"])
        _ = (plain, other)
    }

    /// Paging by marker, in every direction, visits every node exactly once in sort order,
    /// NULLs included.
    static func nodePagination(_ store: any Store) async throws {
        // Names: some NULL, some shared prefixes; owners with duplicates to exercise the id tiebreak.
        let specs: [(String?, String?)] = [
            ("delta", "x"), (nil, "y"), ("alpha", nil), ("charlie", "x"), (nil, nil), ("bravo", "y"),
            ("echo", "x"), (nil, "x"),
        ]
        var created: [Node] = []
        for (name, owner) in specs {
            created.append(try await store.createNode(Self.node(name) { $0.owner = owner }))
        }
        let all = try await store.nodes(NodeQuery())
        #expect(all.map(\.uuid) == created.map(\.uuid), "default order is creation order")

        // Expected orders: NULL first ascending and last descending, then creation order.
        func expected(_ key: (Node) -> String?, _ direction: SortDirection) -> [String] {
            let indexed = created.enumerated().map { ($0.offset, key($0.element)) }
            let ascending = indexed.sorted { a, b in
                switch (a.1, b.1) {
                case (nil, nil): a.0 < b.0
                case (nil, _): true
                case (_, nil): false
                case (let x?, let y?): x == y ? a.0 < b.0 : x < y
                }
            }
            let order = direction == .ascending ? ascending : ascending.reversed()
            return order.map { created[$0.0].uuid }
        }

        for (key, field) in [("name", { (n: Node) in n.name }), ("owner", { (n: Node) in n.owner }),
                             ("id", { (_: Node) in nil }), ("uuid", { (n: Node) in n.uuid })] {
            for direction in [SortDirection.ascending, .descending] {
                let base = PageQuery(sortKey: key, sortDirection: direction)
                let whole = try await store.nodes(NodeQuery(page: base)).map(\.uuid)
                #expect(whole == expected(field, direction), "\(key) \(direction)")
                for limit in [1, 2, 3, 8, 100] {
                    let paged = try await allPages(
                        limit: limit, uuid: \Node.uuid, fetch: { try await store.nodes(NodeQuery(page: $0)) }, base: base)
                    #expect(paged.map(\.uuid) == whole, "\(key) \(direction) limit \(limit)")
                }
            }
        }

        #expect(try await store.nodes(NodeQuery(page: PageQuery(limit: 0))).isEmpty)
        await #expect(throws: markerNotFound("no-such-node")) {
            try await store.nodes(NodeQuery(page: PageQuery(limit: 2, marker: "no-such-node")))
        }
        // Filters and markers combine.
        var query = NodeQuery(page: PageQuery(limit: 2, sortKey: "name"))
        query.owner = "x"
        let first = try await store.nodes(query)
        #expect(first.map(\.name) == [nil, "charlie"])
        query.page.marker = first.last?.uuid
        #expect(try await store.nodes(query).map(\.name) == ["delta", "echo"])
    }

    /// Every advertised sort key works, with and without a marker, in both directions.
    static func sortKeys(_ store: any Store) async throws {
        let chassis = try await store.createChassis(Chassis())
        let node1 = try await store.createNode(fullNode(chassis: chassis.uuid))
        let node2 = try await store.createNode(Self.node("plain"))
        _ = try await store.createPortgroup(Portgroup(nodeUUID: node1.uuid))
        _ = try await store.createPort(NodePort(address: "52:54:00:12:34:56", nodeUUID: node1.uuid))
        _ = try await store.createPort(NodePort(address: "52:54:00:12:34:57", nodeUUID: node2.uuid))
        _ = try await store.createPortgroup(Portgroup(nodeUUID: node2.uuid))
        _ = try await store.createChassis(Chassis())
        for direction in [SortDirection.ascending, .descending] {
            for key in NodeQuery.sortKeys.sorted() {
                let all = try await store.nodes(NodeQuery(page: PageQuery(sortKey: key, sortDirection: direction)))
                #expect(all.count == 2, "\(key)")
                let rest = try await store.nodes(
                    NodeQuery(page: PageQuery(marker: all[0].uuid, sortKey: key, sortDirection: direction)))
                #expect(rest.map(\.uuid) == [all[1].uuid], "\(key)")
            }
            for key in PortQuery.sortKeys.sorted() {
                let all = try await store.ports(PortQuery(page: PageQuery(sortKey: key, sortDirection: direction)))
                let rest = try await store.ports(
                    PortQuery(page: PageQuery(marker: all[0].uuid, sortKey: key, sortDirection: direction)))
                #expect(rest.map(\.uuid) == [all[1].uuid], "\(key)")
            }
            for key in PortgroupQuery.sortKeys.sorted() {
                let all = try await store.portgroups(PortgroupQuery(page: PageQuery(sortKey: key, sortDirection: direction)))
                let rest = try await store.portgroups(
                    PortgroupQuery(page: PageQuery(marker: all[0].uuid, sortKey: key, sortDirection: direction)))
                #expect(rest.map(\.uuid) == [all[1].uuid], "\(key)")
            }
            for key in ChassisSortKeys.all.sorted() {
                let all = try await store.chassisList(PageQuery(sortKey: key, sortDirection: direction))
                let rest = try await store.chassisList(PageQuery(marker: all[0].uuid, sortKey: key, sortDirection: direction))
                #expect(rest.map(\.uuid) == [all[1].uuid], "\(key)")
            }
        }
    }

    // MARK: Locks

    /// Of many concurrent `reserveNode` calls, exactly one wins; the others see `NodeLocked`
    /// naming the winner. Each call may go to a different store (connection or process).
    static func reservationRace(_ stores: [any Store], contenders: Int = 20) async throws {
        let node = try await stores[0].createNode(Self.node("contended-\(UUID().uuidString)"))
        let results = await withTaskGroup(of: (String, Result<Node, IronicError>).self) { group in
            for i in 0..<contenders {
                let store = stores[i % stores.count]
                let conductor = "conductor-\(i)"
                group.addTask {
                    do {
                        return (conductor, .success(try await store.reserveNode(uuid: node.uuid, conductor: conductor)))
                    } catch let error as IronicError {
                        return (conductor, .failure(error))
                    } catch {
                        return (conductor, .failure(.internalError("\(error)")))
                    }
                }
            }
            var results: [(String, Result<Node, IronicError>)] = []
            for await result in group { results.append(result) }
            return results
        }
        let winners = results.compactMap { conductor, result in (try? result.get()).map { (conductor, $0) } }
        try #require(winners.count == 1)
        let (winner, locked) = winners[0]
        #expect(locked.reservation == winner)
        for case (_, .failure(let error)) in results {
            #expect(error == .nodeLocked(node.uuid, host: winner))
        }
        #expect(try await stores[0].node(uuid: node.uuid).reservation == winner)
    }

    /// A save through `writer` while another conductor holds the node's lock through `holder`
    /// (the same store, another connection or another process) writes the fields but keeps the
    /// lock, which only its holder can release.
    static func saveWhileReserved(writer: any Store, holder: any Store) async throws {
        let created = try await writer.createNode(Self.node("locked-\(UUID().uuidString)"))
        let locked = try await holder.reserveNode(uuid: created.uuid, conductor: "conductor-a")
        #expect(locked.reservation == "conductor-a")

        var changed = try await writer.node(uuid: created.uuid)
        #expect(changed.reservation == "conductor-a")
        changed.reservation = nil
        changed.powerState = .on
        changed.extra = ["written": "while locked"]
        let saved = try await writer.saveNode(changed)
        #expect(saved.reservation == "conductor-a")
        #expect(saved.powerState == .on && saved.extra == ["written": "while locked"])
        #expect(try await holder.node(uuid: created.uuid) == saved)

        await #expect(throws: IronicError.nodeLocked(created.uuid, host: "conductor-a")) {
            try await writer.reserveNode(uuid: created.uuid, conductor: "conductor-b")
        }
        try await writer.releaseNode(uuid: created.uuid, conductor: "conductor-b")
        #expect(try await holder.node(uuid: created.uuid).reservation == "conductor-a")
        try await holder.releaseNode(uuid: created.uuid, conductor: "conductor-a")
        #expect(try await writer.reserveNode(uuid: created.uuid, conductor: "conductor-b").reservation == "conductor-b")
        #expect(try await writer.releaseReservations(heldBy: "conductor-b") == [created.uuid])
    }

    /// Reserve, release and bulk release.
    static func reservations(_ store: any Store) async throws {
        let a = try await store.createNode(Self.node("a"))
        let b = try await store.createNode(Self.node("b"))
        let c = try await store.createNode(Self.node("c"))
        #expect(try await store.reserveNode(uuid: a.uuid, conductor: "c1").reservation == "c1")
        // Even the holder cannot take it twice.
        await #expect(throws: IronicError.nodeLocked(a.uuid, host: "c1")) {
            try await store.reserveNode(uuid: a.uuid, conductor: "c1")
        }
        // Releasing someone else's lock does nothing.
        try await store.releaseNode(uuid: a.uuid, conductor: "c2")
        #expect(try await store.node(uuid: a.uuid).reservation == "c1")
        try await store.releaseNode(uuid: a.uuid, conductor: "c1")
        #expect(try await store.node(uuid: a.uuid).reservation == nil)
        try await store.releaseNode(uuid: a.uuid, conductor: "c1")

        _ = try await store.reserveNode(uuid: a.uuid, conductor: "c1")
        _ = try await store.reserveNode(uuid: b.uuid, conductor: "c2")
        _ = try await store.reserveNode(uuid: c.uuid, conductor: "c1")
        #expect(try await store.releaseReservations(heldBy: "c1") == [a.uuid, c.uuid])
        #expect(try await store.releaseReservations(heldBy: "c1") == [])
        #expect(try await store.nodes(NodeQuery()).map(\.reservation) == [nil, "c2", nil])
    }

    /// A dead conductor's lock moves to exactly one of the conductors taking over.
    static func reservationTakeover(_ store: any Store) async throws {
        let node = try await store.createNode(Self.node("orphan"))
        _ = try await store.reserveNode(uuid: node.uuid, conductor: "dead")
        let outcomes = try await withThrowingTaskGroup(of: String?.self) { group in
            for taker in ["t1", "t2", "t3", "t4", "t5"] {
                group.addTask { (try? await store.takeOverReservation(uuid: node.uuid, from: "dead", to: taker))?.reservation }
            }
            return try await group.reduce(into: [String]()) { if let winner = $1 { $0.append(winner) } }
        }
        #expect(outcomes.count == 1, "exactly one winner: \(outcomes)")
        #expect(try await store.node(uuid: node.uuid).reservation == outcomes.first)
        // No longer held by "dead": the next taker is told who holds it.
        await #expect(throws: IronicError.nodeLocked(node.uuid, host: outcomes.first ?? "")) {
            try await store.takeOverReservation(uuid: node.uuid, from: "dead", to: "late")
        }
        await #expect(throws: IronicError.nodeNotFound("nope")) {
            try await store.takeOverReservation(uuid: "nope", from: "dead", to: "late")
        }
    }

    // MARK: Deletion

    /// Deleting a node deletes its ports, portgroups and history, and nothing else.
    static func cascadeDelete(_ store: any Store) async throws {
        let doomed = try await store.createNode(Self.node("doomed"))
        let survivor = try await store.createNode(Self.node("survivor"))
        var group = Portgroup(nodeUUID: doomed.uuid)
        group.name = "bond0"
        group = try await store.createPortgroup(group)
        var port = NodePort(address: "52:54:00:00:00:01", nodeUUID: doomed.uuid)
        port.portgroupUUID = group.uuid
        port = try await store.createPort(port)
        let loose = try await store.createPort(NodePort(address: "52:54:00:00:00:02", nodeUUID: doomed.uuid))
        let kept = try await store.createPort(NodePort(address: "52:54:00:00:00:03", nodeUUID: survivor.uuid))
        let event = NodeHistoryEvent(
            nodeUUID: doomed.uuid, severity: .info, eventType: .provisioning, event: "deployed", conductor: "c1")
        try await store.recordHistory(event)
        try await store.recordHistory(
            NodeHistoryEvent(nodeUUID: survivor.uuid, severity: .error, eventType: .console, event: "x", conductor: nil))

        try await store.deleteNode(uuid: doomed.uuid)
        await #expect(throws: IronicError.nodeNotFound(doomed.uuid)) { try await store.node(uuid: doomed.uuid) }
        await #expect(throws: IronicError.portNotFound(port.uuid)) { try await store.port(uuid: port.uuid) }
        await #expect(throws: IronicError.portNotFound(loose.uuid)) { try await store.port(uuid: loose.uuid) }
        await #expect(throws: IronicError.portgroupNotFound(group.uuid)) { try await store.portgroup(uuid: group.uuid) }
        await #expect(throws: IronicError.historyNotFound(event.uuid)) {
            try await store.historyEvent(nodeUUID: doomed.uuid, uuid: event.uuid)
        }
        #expect(try await store.history(nodeUUID: doomed.uuid, page: PageQuery()).isEmpty)
        #expect(try await store.ports(PortQuery()) == [kept])
        #expect(try await store.history(nodeUUID: survivor.uuid, page: PageQuery()).count == 1)
        #expect(try await store.nodes(NodeQuery()).map(\.uuid) == [survivor.uuid])
        // The MAC address and names are free again.
        _ = try await store.createNode(Self.node("doomed"))
        _ = try await store.createPort(NodePort(address: "52:54:00:00:00:01", nodeUUID: survivor.uuid))
    }

    // MARK: Chassis

    /// Chassis CRUD, paging, and the refusal to delete a chassis with nodes.
    static func chassis(_ store: any Store) async throws {
        var chassis = Chassis(createdAt: date(1.5))
        chassis.description = "rack 7"
        chassis.extra = ["row": 3, "tags": ["a", "b"]]
        let created = try await store.createChassis(chassis)
        #expect(try await store.chassis(uuid: chassis.uuid) == created)
        await #expect(throws: IronicError.alreadyExists("Chassis", uuid: chassis.uuid)) {
            try await store.createChassis(Chassis(uuid: chassis.uuid))
        }
        await #expect(throws: IronicError.chassisNotFound("none")) { try await store.chassis(uuid: "none") }
        await #expect(throws: IronicError.chassisNotFound("none")) { try await store.saveChassis(Chassis(uuid: "none")) }
        await #expect(throws: IronicError.chassisNotFound("none")) { try await store.deleteChassis(uuid: "none") }

        var changed = created
        changed.description = nil
        changed.extra = [:]
        let saved = try await store.saveChassis(changed)
        #expect(saved.description == nil && saved.extra.isEmpty && saved.updatedAt != nil)
        #expect(saved.createdAt == created.createdAt)
        #expect(try await store.chassis(uuid: chassis.uuid) == saved)

        let second = try await store.createChassis(Chassis())
        let third = try await store.createChassis(Chassis())
        #expect(try await store.chassisList(PageQuery()).map(\.uuid) == [created.uuid, second.uuid, third.uuid])
        #expect(
            try await store.chassisList(PageQuery(limit: 1, marker: created.uuid, sortDirection: .descending)).isEmpty)
        #expect(
            try await store.chassisList(PageQuery(limit: 1, marker: third.uuid, sortDirection: .descending)).map(\.uuid)
                == [second.uuid])
        await #expect(throws: markerNotFound("gone")) { try await store.chassisList(PageQuery(marker: "gone")) }

        let member = try await store.createNode(Self.node { $0.chassisUUID = second.uuid })
        await #expect(throws: IronicError.chassisNotEmpty(second.uuid)) { try await store.deleteChassis(uuid: second.uuid) }
        try await store.deleteNode(uuid: member.uuid)
        try await store.deleteChassis(uuid: second.uuid)
        #expect(try await store.chassisList(PageQuery()).map(\.uuid) == [created.uuid, third.uuid])
    }

    // MARK: Ports and portgroups

    /// Port CRUD, filters, conflicts and paging.
    static func ports(_ store: any Store) async throws {
        let node1 = try await store.createNode(Self.node("n1"))
        let node2 = try await store.createNode(Self.node("n2"))
        let group = try await store.createPortgroup(Portgroup(nodeUUID: node1.uuid))

        var port = NodePort(address: "52:54:00:aa:bb:01", nodeUUID: node1.uuid, createdAt: date(3.3))
        port.portgroupUUID = group.uuid
        port.localLinkConnection = ["switch_id": "00:11:22:33:44:55", "port_id": "Eth1/1", "switch_info": "tor"]
        port.pxeEnabled = false
        port.physicalNetwork = "physnet1"
        port.internalInfo = ["tenant_vif_port_id": "vif-1"]
        port.extra = ["k": [1, 2]]
        port.isSmartNIC = true
        port.updatedAt = date(4.4)
        let created = try await store.createPort(port)
        #expect(try await store.port(uuid: port.uuid) == created)
        #expect(created.attachedVIF == "vif-1")

        await #expect(throws: IronicError.macAlreadyExists("52:54:00:aa:bb:01")) {
            try await store.createPort(NodePort(address: "52:54:00:aa:bb:01", nodeUUID: node2.uuid))
        }
        await #expect(throws: IronicError.alreadyExists("Port", uuid: port.uuid)) {
            try await store.createPort(NodePort(uuid: port.uuid, address: "52:54:00:aa:bb:99", nodeUUID: node2.uuid))
        }
        await #expect(throws: IronicError.nodeNotFound("no-node")) {
            try await store.createPort(NodePort(address: "52:54:00:aa:bb:98", nodeUUID: "no-node"))
        }
        await #expect(throws: IronicError.portgroupNotFound("no-group")) {
            var orphan = NodePort(address: "52:54:00:aa:bb:97", nodeUUID: node2.uuid)
            orphan.portgroupUUID = "no-group"
            return try await store.createPort(orphan)
        }
        await #expect(throws: IronicError.portNotFound("none")) { try await store.port(uuid: "none") }
        await #expect(throws: IronicError.portNotFound("none")) { try await store.deletePort(uuid: "none") }
        await #expect(throws: IronicError.portNotFound("none")) {
            try await store.savePort(NodePort(uuid: "none", address: "52:54:00:aa:bb:96", nodeUUID: node1.uuid))
        }

        let p2 = try await store.createPort(NodePort(address: "52:54:00:aa:bb:03", nodeUUID: node2.uuid))
        let p3 = try await store.createPort(NodePort(address: "52:54:00:aa:bb:02", nodeUUID: node1.uuid))
        #expect(try await store.ports(PortQuery()).map(\.uuid) == [port.uuid, p2.uuid, p3.uuid])
        #expect(try await store.ports(PortQuery(nodeUUID: node1.uuid)).map(\.uuid) == [port.uuid, p3.uuid])
        #expect(try await store.ports(PortQuery(portgroupUUID: group.uuid)).map(\.uuid) == [port.uuid])
        #expect(try await store.ports(PortQuery(address: "52:54:00:aa:bb:03")).map(\.uuid) == [p2.uuid])
        let byAddress = PageQuery(limit: 2, sortKey: "address", sortDirection: .descending)
        let page1 = try await store.ports(PortQuery(page: byAddress))
        #expect(page1.map(\.address) == ["52:54:00:aa:bb:03", "52:54:00:aa:bb:02"])
        var next = byAddress
        next.marker = page1.last?.uuid
        #expect(try await store.ports(PortQuery(page: next)).map(\.address) == ["52:54:00:aa:bb:01"])

        // Saving: the MAC is checked; the port may move between nodes.
        var moved = p3
        moved.address = p2.address
        await #expect(throws: IronicError.macAlreadyExists(p2.address)) { try await store.savePort(moved) }
        moved.address = "52:54:00:aa:bb:04"
        moved.nodeUUID = node2.uuid
        moved.pxeEnabled = false
        let saved = try await store.savePort(moved)
        #expect(saved.updatedAt != nil && saved.createdAt == p3.createdAt)
        #expect(try await store.port(uuid: p3.uuid) == saved)
        #expect(try await store.ports(PortQuery(nodeUUID: node2.uuid)).map(\.uuid) == [p2.uuid, p3.uuid])

        try await store.deletePort(uuid: p2.uuid)
        #expect(try await store.ports(PortQuery()).map(\.uuid) == [port.uuid, p3.uuid])
    }

    /// Portgroup CRUD, conflicts, and the refusal to delete a portgroup with ports.
    static func portgroups(_ store: any Store) async throws {
        let node1 = try await store.createNode(Self.node("n1"))
        let node2 = try await store.createNode(Self.node("n2"))
        var group = Portgroup(nodeUUID: node1.uuid, createdAt: date(5))
        group.name = "bond0"
        group.address = "52:54:00:00:01:00"
        group.standalonePortsSupported = false
        group.mode = "802.3ad"
        group.properties = ["miimon": "100"]
        group.internalInfo = ["tenant_vif_port_id": "vif-2"]
        group.extra = ["x": true]
        group.updatedAt = date(6)
        let created = try await store.createPortgroup(group)
        #expect(try await store.portgroup(uuid: group.uuid) == created)
        #expect(try await store.portgroup(name: "bond0") == created)

        await #expect(throws: IronicError.alreadyExists("Portgroup", uuid: group.uuid)) {
            try await store.createPortgroup(Portgroup(uuid: group.uuid, nodeUUID: node2.uuid))
        }
        await #expect(throws: IronicError(status: 409, code: "PortgroupDuplicateName",
                                          message: "A portgroup with name bond0 already exists.")) {
            var clash = Portgroup(nodeUUID: node2.uuid)
            clash.name = "bond0"
            return try await store.createPortgroup(clash)
        }
        await #expect(throws: IronicError(status: 409, code: "PortgroupMACAlreadyExists",
                                          message: "A portgroup with MAC address 52:54:00:00:01:00 already exists.")) {
            var clash = Portgroup(nodeUUID: node2.uuid)
            clash.address = "52:54:00:00:01:00"
            return try await store.createPortgroup(clash)
        }
        await #expect(throws: IronicError.nodeNotFound("no-node")) {
            try await store.createPortgroup(Portgroup(nodeUUID: "no-node"))
        }
        await #expect(throws: IronicError.portgroupNotFound("none")) { try await store.portgroup(uuid: "none") }
        await #expect(throws: IronicError.portgroupNotFound("none")) { try await store.portgroup(name: "none") }
        await #expect(throws: IronicError.portgroupNotFound("none")) { try await store.deletePortgroup(uuid: "none") }
        await #expect(throws: IronicError.portgroupNotFound("none")) {
            try await store.savePortgroup(Portgroup(uuid: "none", nodeUUID: node1.uuid))
        }

        let unnamed1 = try await store.createPortgroup(Portgroup(nodeUUID: node2.uuid))
        let unnamed2 = try await store.createPortgroup(Portgroup(nodeUUID: node2.uuid))
        #expect(try await store.portgroups(PortgroupQuery()).map(\.uuid) == [group.uuid, unnamed1.uuid, unnamed2.uuid])
        #expect(try await store.portgroups(PortgroupQuery(nodeUUID: node2.uuid)).map(\.uuid) == [unnamed1.uuid, unnamed2.uuid])
        #expect(try await store.portgroups(PortgroupQuery(address: "52:54:00:00:01:00")).map(\.uuid) == [group.uuid])
        let byName = PageQuery(limit: 2, sortKey: "name")
        let page1 = try await store.portgroups(PortgroupQuery(page: byName))
        #expect(page1.map(\.uuid) == [unnamed1.uuid, unnamed2.uuid])
        var next = byName
        next.marker = page1.last?.uuid
        #expect(try await store.portgroups(PortgroupQuery(page: next)).map(\.uuid) == [group.uuid])

        var renamed = unnamed1
        renamed.name = "bond0"
        await #expect(throws: IronicError(status: 409, code: "PortgroupDuplicateName",
                                          message: "A portgroup with name bond0 already exists.")) {
            try await store.savePortgroup(renamed)
        }
        renamed.name = "bond1"
        let saved = try await store.savePortgroup(renamed)
        #expect(saved.name == "bond1" && saved.updatedAt != nil)
        #expect(try await store.portgroup(name: "bond1") == saved)

        var member = NodePort(address: "52:54:00:00:01:01", nodeUUID: node1.uuid)
        member.portgroupUUID = group.uuid
        member = try await store.createPort(member)
        await #expect(throws: IronicError.portgroupNotEmpty(group.uuid)) { try await store.deletePortgroup(uuid: group.uuid) }
        member.portgroupUUID = nil
        _ = try await store.savePort(member)
        try await store.deletePortgroup(uuid: group.uuid)
        await #expect(throws: IronicError.portgroupNotFound(group.uuid)) { try await store.portgroup(uuid: group.uuid) }
    }

    // MARK: Conductors

    /// Register (insert and update), heartbeat, unregister, listing.
    static func conductors(_ store: any Store) async throws {
        #expect(try await store.conductors().isEmpty)
        await #expect(throws: IronicError.conductorNotFound("c1")) { try await store.heartbeatConductor(hostname: "c1") }
        await #expect(throws: IronicError.conductorNotFound("c1")) { try await store.conductor(hostname: "c1") }

        let registration = HardwareTypeRegistration(
            hardwareType: "ipmi",
            interfaces: [
                .power: EnabledInterfaces(enabled: ["ipmitool"], defaultName: "ipmitool"),
                .deploy: EnabledInterfaces(enabled: ["direct", "ramdisk"], defaultName: "direct"),
                .vendor: EnabledInterfaces(enabled: [], defaultName: nil),
            ])
        let longAgo = Date(timeIntervalSince1970: 1_000_000)
        let before = Date().addingTimeInterval(-0.001)
        try await store.registerConductor(
            ConductorRecord(hostname: "zeta", conductorGroup: "rack-1", online: false, hardwareTypes: [registration],
                            createdAt: longAgo, updatedAt: longAgo))
        try await store.registerConductor(ConductorRecord(hostname: "alpha"))
        let zeta = try await store.conductor(hostname: "zeta")
        #expect(zeta.online, "registering brings a conductor online")
        #expect(zeta.conductorGroup == "rack-1")
        #expect(zeta.hardwareTypes == [registration])
        #expect(zeta.createdAt == longAgo)
        #expect(zeta.updatedAt >= before, "the heartbeat is now")
        #expect(try await store.conductors().map(\.hostname) == ["alpha", "zeta"])

        try await Task.sleep(for: .milliseconds(5))
        try await store.heartbeatConductor(hostname: "zeta")
        let beat = try await store.conductor(hostname: "zeta")
        #expect(beat.updatedAt > zeta.updatedAt)

        try await store.unregisterConductor(hostname: "zeta")
        try await store.unregisterConductor(hostname: "unknown")
        #expect(try await store.conductor(hostname: "zeta").online == false)
        #expect(try await store.conductors().map(\.online) == [true, false])

        // Re-registering replaces what it serves and keeps the creation date.
        try await store.registerConductor(ConductorRecord(hostname: "zeta", conductorGroup: "rack-2"))
        let again = try await store.conductor(hostname: "zeta")
        #expect(again.online && again.conductorGroup == "rack-2" && again.hardwareTypes.isEmpty)
        #expect(again.createdAt == longAgo)
        #expect(try await store.conductors().count == 2)
    }

    // MARK: History

    /// History is oldest first and pages by entry UUID.
    static func history(_ store: any Store) async throws {
        let node = try await store.createNode(Self.node("n"))
        let other = try await store.createNode(Self.node("o"))
        var events: [NodeHistoryEvent] = []
        for i in 0..<7 {
            let event = NodeHistoryEvent(
                nodeUUID: node.uuid, createdAt: date(Double(i)), severity: i % 2 == 0 ? .info : .error,
                eventType: .provisioning, event: "event \(i) \"quoted\"", conductor: i == 3 ? nil : "c1",
                user: i == 4 ? "admin" : nil)
            try await store.recordHistory(event)
            try await store.recordHistory(
                NodeHistoryEvent(nodeUUID: other.uuid, severity: .info, eventType: .console, event: "noise", conductor: nil))
            events.append(event)
        }
        await #expect(throws: IronicError.nodeNotFound("no-node")) {
            try await store.recordHistory(
                NodeHistoryEvent(nodeUUID: "no-node", severity: .info, eventType: .console, event: "x", conductor: nil))
        }

        let all = try await store.history(nodeUUID: node.uuid, page: PageQuery())
        #expect(all.map(\.uuid) == events.map(\.uuid))
        for (stored, original) in zip(all, events) {
            #expect(abs(stored.createdAt.timeIntervalSince(original.createdAt)) < 0.000_001)
            var expected = original
            expected.createdAt = stored.createdAt
            #expect(stored == expected)
        }
        let paged = try await allPages(
            limit: 3, uuid: \NodeHistoryEvent.uuid,
            fetch: { try await store.history(nodeUUID: node.uuid, page: $0) }, base: PageQuery())
        #expect(paged == all)
        #expect(try await store.history(nodeUUID: node.uuid, page: PageQuery(limit: 2, marker: events[4].uuid)) == Array(all[5...6]))
        await #expect(throws: markerNotFound("nope")) {
            try await store.history(nodeUUID: node.uuid, page: PageQuery(marker: "nope"))
        }

        #expect(try await store.historyEvent(nodeUUID: node.uuid, uuid: events[2].uuid) == all[2])
        await #expect(throws: IronicError.historyNotFound(events[2].uuid)) {
            try await store.historyEvent(nodeUUID: other.uuid, uuid: events[2].uuid)
        }
    }

    // MARK: Inventory

    /// One inspection report per node: the last one wins, it goes with its node, and an
    /// unknown node is refused.
    static func inventory(_ store: any Store) async throws {
        let node = try await store.createNode(Self.node("inspected"))
        await #expect(throws: IronicError.inventoryNotFound(node: node.uuid)) {
            try await store.inventory(nodeUUID: node.uuid)
        }
        let first: JSONValue = ["cpu": ["count": 2, "architecture": "x86_64"], "memory": ["physical_mb": 2048]]
        try await store.saveInventory(nodeUUID: node.uuid, inventory: first, pluginData: ["root_disk": "sda"])
        let second: JSONValue = ["cpu": ["count": 4], "interfaces": [["mac_address": "52:54:00:12:34:56"]]]
        try await store.saveInventory(nodeUUID: node.uuid, inventory: second, pluginData: [:])
        let stored = try await store.inventory(nodeUUID: node.uuid)
        #expect(stored.inventory == second && stored.pluginData == [:] && stored.nodeUUID == node.uuid)
        await #expect(throws: IronicError.nodeNotFound("no-node")) {
            try await store.saveInventory(nodeUUID: "no-node", inventory: first, pluginData: [:])
        }
        try await store.deleteNode(uuid: node.uuid)
        await #expect(throws: IronicError.inventoryNotFound(node: node.uuid)) {
            try await store.inventory(nodeUUID: node.uuid)
        }
    }

    // MARK: Schema

    /// `upgrade` is idempotent and reports the version that `schemaVersion` then reads.
    static func upgradeIsIdempotent(_ store: any Store) async throws {
        let version = try await store.upgrade()
        #expect(version >= 1)
        #expect(try await store.upgrade() == version)
        #expect(try await store.schemaVersion() == version)
    }
}
