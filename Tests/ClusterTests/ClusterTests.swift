import Core
import Foundation
import IronicTesting
import Lab
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Several conductor processes and one API process over one database, started by the tests.
/// The suite runs its tests one at a time: each starts four or five processes.
@Suite("Active-active conductors", .serialized)
struct ClusterTests {
    @Test(arguments: ClusterDatabase.all)
    func theAPIReachesEveryConductorOverJSONRPC(_ database: ClusterDatabase) async throws {
        try await withCluster(database, conductors: 3, config: "[fake]\npower_delay = 2\n") { cluster in
            let uuids = try await cluster.createAvailableNodes(30)
            let owners = Set(try await cluster.allNodes().compactMap { $0["conductor"]?.stringValue })
            #expect(owners == Set(cluster.conductorHostnames), "every conductor owns some of 30 nodes")

            // A power change runs on the owning conductor; a second request meanwhile is a
            // 409 NodeLocked raised there and carried back through JSON-RPC.
            let uuid = uuids[0]
            #expect(try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power on"]).status == 202)
            let locked = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power off"])
            #expect(locked.status == 409, "\(locked.text)")
            #expect(try locked.fault()["faultstring"]?.stringValue?.contains("locked by host") == true, "\(locked.text)")
            let done = try await cluster.waitForNode(uuid, timeout: .seconds(20)) { $0["target_power_state"] == .null }
            #expect(done["power_state"] == "power on")

            // A conductor-side validation error keeps its status and message.
            let wrong = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "adopt"])
            #expect(wrong.status == 400, "\(wrong.text)")
            #expect(try wrong.fault()["faultstring"]?.stringValue?.contains("available") == true, "\(wrong.text)")
        }
    }

    @Test(arguments: ClusterDatabase.all)
    func killNineMidActionLeavesEveryNodeOperable(_ database: ClusterDatabase) async throws {
        try await Lab.withTemporaryLab(count: 3) { lab in
            try await withCluster(database, conductors: 3, config: "[fake]\npower_delay = 5\ndeploy_delay = 5\n") { cluster in
                try await Self.killNineMidAction(cluster, lab)
            }
        }
    }

    static func killNineMidAction(_ cluster: Cluster, _ lab: Lab) async throws {
        var uuids = try await cluster.createAvailableNodes(200)
        for (index, server) in lab.servers.enumerated() {
            let info = lab.driverInfo(for: server).mapValues(JSONValue.string)
            let node = try await cluster.createNode(["name": .string("lab-\(index)"), "driver": "ipmi", "driver_info": .object(info)])
            uuids.append(node["uuid"]?.stringValue ?? "")
        }
        // Updates accepted before the kill must survive it.
        try await cluster.forEach(uuids) { uuid in
            let response = try await cluster.request("PATCH", "/v1/nodes/\(uuid)", json: [["op": "add", "path": "/extra/before", "value": "kill"]])
            guard response.status == 200 else { throw TestServerError.unexpected("PATCH answered \(response.status): \(response.text)") }
        }
        let nodes = try await cluster.allNodes()
        let byOwner = Dictionary(grouping: nodes.filter { $0["driver"] == "fake-hardware" }, by: { $0["conductor"]?.stringValue ?? "" })
        guard let victim = byOwner.max(by: { $0.value.count < $1.value.count })?.key, !victim.isEmpty else {
            throw TestServerError.unexpected("no conductor owns nodes")
        }
        let victimNodes = byOwner[victim]!.compactMap { $0["uuid"]?.stringValue }
        let powering = Array(victimNodes.prefix(victimNodes.count / 2))
        let deploying = Array(victimNodes.dropFirst(victimNodes.count / 2))
        try await cluster.forEach(powering) { uuid in
            let response = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power on"])
            guard response.status == 202 else { throw TestServerError.unexpected("power on answered \(response.status): \(response.text)") }
        }
        try await cluster.forEach(deploying) { uuid in
            let response = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/provision", json: ["target": "active"])
            guard response.status == 202 else { throw TestServerError.unexpected("deploy answered \(response.status): \(response.text)") }
        }
        // Mid-action: the 5 s fake delays are running on the victim.
        let busy = try await cluster.allNodes().filter { $0["reservation"]?.stringValue == victim }.count
        #expect(busy > 0, "the victim holds locks when it dies")
        await cluster.signal(victim, SIGKILL)
        let killedAt = ContinuousClock.now

        let settled = try await cluster.waitForNodes(timeout: cluster.heartbeatTimeout * 2, "recovery after kill -9") { nodes in
            nodes.allSatisfy { node in
                node["reservation"] == .null && node["target_power_state"] == .null
                    && !transientStates.contains(node["provision_state"]?.stringValue ?? "")
            }
        }
        print("all \(settled.count) nodes unlocked and settled \(ContinuousClock.now - killedAt) after kill -9 (heartbeat_timeout \(cluster.heartbeatTimeout))")
        #expect(try await !cluster.aliveConductors().contains(victim))
        for node in settled {
            #expect(node["extra"]?["before"] == "kill", "no update lost: \(node["uuid"] ?? .null)")
            #expect(node["conductor"]?.stringValue != victim)
        }
        // Nodes left mid-action say why in their history.
        for uuid in powering + deploying {
            let events = try await cluster.historyEvents(uuid)
            #expect(events.contains { $0.contains("Conductor \(victim) went offline") }, "\(uuid): \(events)")
        }
        for uuid in deploying {
            #expect(try await cluster.request("GET", "/v1/nodes/\(uuid)").json()["provision_state"] == "deploy failed")
        }
        // Every node answers a power action through the API again, on its new conductor.
        try await cluster.forEach(uuids) { uuid in
            let response = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power off"])
            guard response.status == 202 else { throw TestServerError.unexpected("\(uuid): power off answered \(response.status): \(response.text)") }
        }
        let off = try await cluster.waitForNodes(timeout: .seconds(30), "power off everywhere") { nodes in
            nodes.allSatisfy { $0["target_power_state"] == .null && $0["reservation"] == .null }
        }
        #expect(off.allSatisfy { $0["power_state"] == "power off" })
        #expect(lab.servers.allSatisfy { !$0.powerOn }, "the lab BMCs were powered off through the surviving conductors")
    }

    @Test(arguments: ClusterDatabase.all)
    func sigtermFinishesWorkAndHandsNodesOverAtOnce(_ database: ClusterDatabase) async throws {
        // A heartbeat timeout far longer than the test: nodes can only move because the
        // stopping conductor unregisters, not because it is presumed dead.
        try await withCluster(database, conductors: 3, heartbeatTimeout: .seconds(120), config: "[fake]\npower_delay = 2\n") { cluster in
            _ = try await cluster.createAvailableNodes(30)
            let nodes = try await cluster.allNodes()
            let victim = cluster.conductorHostnames[0]
            let victimNodes = nodes.filter { $0["conductor"]?.stringValue == victim }.compactMap { $0["uuid"]?.stringValue }
            try #require(!victimNodes.isEmpty)
            try await cluster.forEach(victimNodes) { uuid in
                _ = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power on"])
            }
            await cluster.signal(victim, SIGTERM)
            #expect(await cluster.waitForExit(victim, timeout: .seconds(20)), "\(cluster.log(victim))")
            let after = try await cluster.allNodes()
            #expect(after.allSatisfy { $0["reservation"]?.stringValue != victim })
            for node in after where victimNodes.contains(node["uuid"]?.stringValue ?? "") {
                #expect(node["power_state"] == "power on", "running work finished before the stop")
                #expect(node["target_power_state"] == .null)
            }
            #expect(try await !cluster.aliveConductors().contains(victim))
            // The nodes work at once, long before the 120 s heartbeat timeout.
            for uuid in victimNodes.prefix(5) {
                let response = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power off"])
                #expect(response.status == 202, "\(response.text)")
            }
        }
    }

    @Test(arguments: ClusterDatabase.all)
    func aJoiningConductorTakesItsShare(_ database: ClusterDatabase) async throws {
        try await withCluster(database, conductors: 2) { cluster in
            let uuids = try await cluster.createAvailableNodes(45)
            try await cluster.forEach(Array(uuids.prefix(15))) { uuid in
                try await cluster.provision(uuid, "active")
            }
            let joined = try cluster.launchConductor()
            try await cluster.waitForConductors(count: 3)
            let moved = try await cluster.waitForNodes(timeout: .seconds(20), "nodes moving to \(joined)") { nodes in
                nodes.contains { $0["conductor"]?.stringValue == joined }
            }.filter { $0["conductor"]?.stringValue == joined }.compactMap { $0["uuid"]?.stringValue }
            #expect((5...30).contains(moved.count), "about a third of 45 nodes: \(moved.count)")
            // `?conductor=` lists each conductor's share; the shares add up to every node.
            var shares: [String: Int] = [:]
            for host in cluster.conductorHostnames {
                shares[host] = try await cluster.request("GET", "/v1/nodes?conductor=\(host)&limit=1000").json()["nodes"]?.arrayValue?.count
            }
            #expect(shares.values.reduce(0, +) == 45 && shares[joined] == moved.count, "\(shares)")
            for uuid in moved.prefix(5) {
                let response = try await cluster.request("PATCH", "/v1/nodes/\(uuid)", json: [["op": "add", "path": "/extra/owner", "value": "new"]])
                #expect(response.status == 200, "\(response.text)")
            }
            // Deployed nodes are taken over: the new conductor records itself as their affinity.
            let store = try await cluster.openStore()
            let movedActive = Set(moved).intersection(uuids.prefix(15))
            let deadline = ContinuousClock.now + .seconds(20)
            var pending = movedActive
            while !pending.isEmpty && ContinuousClock.now < deadline {
                for uuid in pending where try await store.node(uuid: uuid).conductorAffinity == joined { pending.remove(uuid) }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(pending.isEmpty, "deployed nodes taken over by \(joined): \(movedActive.count - pending.count) of \(movedActive.count)")
        }
    }

    @Test(arguments: ClusterDatabase.all)
    func concurrentPatchesToOneNodeNeverLoseAnUpdate(_ database: ClusterDatabase) async throws {
        try await withCluster(database, conductors: 3) { cluster in
            let uuid = try await cluster.createNode()["uuid"]?.stringValue ?? ""
            let outcomes = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let response = try await cluster.request(
                            "PATCH", "/v1/nodes/\(uuid)", json: [["op": "add", "path": .string("/extra/k\(index)"), "value": .int(index)]])
                        return (index, response.status)
                    }
                }
                return try await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
            }
            #expect(outcomes.allSatisfy { $0.1 == 200 || $0.1 == 409 }, "\(outcomes.filter { $0.1 != 200 && $0.1 != 409 })")
            let succeeded = Set(outcomes.filter { $0.1 == 200 }.map { "k\($0.0)" })
            #expect(!succeeded.isEmpty)
            let extra = try await cluster.request("GET", "/v1/nodes/\(uuid)").json()["extra"]?.objectValue ?? [:]
            #expect(Set(extra.keys) == succeeded, "exactly the accepted updates are kept")
        }
    }
}

extension ClusterTests {
    /// A conductor frozen past `heartbeat_timeout` (SIGSTOP) loses its nodes like a dead one;
    /// when it wakes up it must not write over what the others did meanwhile.
    @Test(arguments: ClusterDatabase.all)
    func aFrozenConductorLosesItsNodesAndDoesNotWriteOverThemWhenItWakes(_ database: ClusterDatabase) async throws {
        try await withCluster(database, conductors: 3, heartbeatTimeout: .seconds(4), config: "[fake]\npower_delay = 3\n") { cluster in
            _ = try await cluster.createAvailableNodes(30)
            let victim = cluster.conductorHostnames[1]
            let victimNodes = try await cluster.allNodes().filter { $0["conductor"]?.stringValue == victim }.compactMap { $0["uuid"]?.stringValue }
            try #require(!victimNodes.isEmpty)
            try await cluster.forEach(victimNodes) { uuid in
                _ = try await cluster.request("PUT", "/v1/nodes/\(uuid)/states/power", json: ["target": "power on"])
            }
            await cluster.signal(victim, SIGSTOP)
            _ = try await cluster.waitForNodes(timeout: .seconds(8), "take-over of the frozen conductor's nodes") { nodes in
                nodes.allSatisfy { $0["reservation"] == .null && $0["target_power_state"] == .null }
            }
            // Another conductor changes the nodes, then the frozen one wakes up and finishes its work.
            try await cluster.forEach(victimNodes) { uuid in
                let response = try await cluster.request("PATCH", "/v1/nodes/\(uuid)", json: [["op": "add", "path": "/extra/after", "value": "takeover"]])
                guard response.status == 200 else { throw TestServerError.unexpected("PATCH answered \(response.status): \(response.text)") }
            }
            await cluster.signal(victim, SIGCONT)
            try await cluster.waitForConductors(count: 3)
            try await Task.sleep(for: .seconds(4))  // longer than the woken conductor's remaining power_delay
            for uuid in victimNodes {
                let node = try await cluster.request("GET", "/v1/nodes/\(uuid)").json()
                #expect(node["extra"]?["after"] == "takeover", "the woken conductor wrote over \(uuid)")
                #expect(node["reservation"] == .null)
            }
            #expect(cluster.log(victim, lines: 400).contains("discarding its changes"))
        }
    }
}
