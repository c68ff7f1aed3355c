import Core
import HardwareTypes
import Testing

@Suite("noop network: choosing where a VIF goes")
struct NoopNetworkTests {
    let task: NodeTask
    let network: any NetworkInterface
    let nodeUUID: String

    init() throws {
        let (task, driver) = try fakeHardwareTask()
        self.task = task
        self.network = try #require(driver.network)
        self.nodeUUID = task.node.uuid
    }

    func port(_ mac: String, group: Portgroup? = nil, pxe: Bool = true, vif: String? = nil) -> NodePort {
        var port = NodePort(address: mac, nodeUUID: nodeUUID)
        port.portgroupUUID = group?.uuid
        port.pxeEnabled = pxe
        if let vif { port.internalInfo["tenant_vif_port_id"] = .string(vif) }
        return port
    }

    func choose(_ ports: [NodePort], _ groups: [Portgroup] = [], vif: String = "vif-1") throws -> String {
        try network.chooseAttachmentTarget(ports: ports, portgroups: groups, vifID: vif, task: task)
    }

    @Test("A single free port is chosen")
    func singlePort() throws {
        let only = port("52:54:00:00:00:01")
        #expect(try choose([only]) == only.uuid)
    }

    @Test("A free portgroup is preferred to a free port")
    func portgroupPreferred() throws {
        let group = Portgroup(nodeUUID: nodeUUID)
        let standalone = port("52:54:00:00:00:01")
        let member = port("52:54:00:00:00:02", group: group)
        #expect(try choose([standalone, member], [group]) == group.uuid)
    }

    @Test("A PXE-enabled port is preferred to one that is not")
    func pxePreferred() throws {
        let quiet = port("52:54:00:00:00:01", pxe: false)
        let booting = port("52:54:00:00:00:02")
        #expect(try choose([quiet, booting]) == booting.uuid)
    }

    @Test("Empty portgroups are skipped; a group with a busy member offers its free members as ports")
    func portgroupRules() throws {
        let empty = Portgroup(nodeUUID: nodeUUID)
        #expect(try choose([port("52:54:00:00:00:09")], [empty]) != empty.uuid)

        let group = Portgroup(nodeUUID: nodeUUID)
        let busy = port("52:54:00:00:00:01", group: group, vif: "vif-other")
        let free = port("52:54:00:00:00:02", group: group)
        #expect(try choose([busy, free], [group]) == free.uuid)
    }

    @Test("No free port is NoFreePhysicalPorts")
    func noFreePort() throws {
        for ports in [[], [port("52:54:00:00:00:01", vif: "vif-other")]] {
            let error = #expect(throws: IronicError.self) { try choose(ports) }
            #expect(error?.status == 400)
            #expect(error?.code == "NoFreePhysicalPorts")
            #expect(error?.message == "Unable to attach VIF vif-1, not enough free physical ports.")
        }
    }

    @Test("A VIF already on a port or portgroup is VifAlreadyAttached")
    func alreadyAttached() throws {
        let attached = port("52:54:00:00:00:01", vif: "vif-1")
        let onPort = #expect(throws: IronicError.self) { try choose([attached, port("52:54:00:00:00:02")]) }
        #expect(onPort?.status == 409)
        #expect(onPort?.code == "VifAlreadyAttached")
        #expect(onPort?.message == "Unable to attach VIF because VIF vif-1 is already attached to Ironic Port \(attached.uuid)")

        var group = Portgroup(nodeUUID: nodeUUID)
        group.internalInfo["tenant_vif_port_id"] = "vif-1"
        let onGroup = #expect(throws: IronicError.self) { try choose([port("52:54:00:00:00:03", group: group)], [group]) }
        #expect(onGroup?.message == "Unable to attach VIF because VIF vif-1 is already attached to Ironic Portgroup \(group.uuid)")
    }

    @Test("Smart NIC ports without link information are not candidates")
    func smartNIC() throws {
        var incomplete = port("52:54:00:00:00:01")
        incomplete.isSmartNIC = true
        #expect(throws: IronicError.noFreePhysicalPortsSample) { try choose([incomplete]) }
        incomplete.localLinkConnection = ["port_id": "rep0-0", "hostname": "host-1"]
        #expect(try choose([incomplete]) == incomplete.uuid)
    }

    @Test("A portgroup whose members disagree on the physical network is refused")
    func inconsistentPhysnets() throws {
        let group = Portgroup(nodeUUID: nodeUUID)
        var first = port("52:54:00:00:00:01", group: group)
        first.physicalNetwork = "physnet1"
        var second = port("52:54:00:00:00:02", group: group)
        second.physicalNetwork = "physnet2"
        let error = #expect(throws: IronicError.self) { try choose([first, second], [group]) }
        #expect(error?.code == "PortgroupPhysnetInconsistent")
        #expect(error?.status == 500)
    }
}

extension IronicError {
    /// What `NoopNetworkTests.choose` throws for `vif-1` when nothing is free.
    static let noFreePhysicalPortsSample = IronicError(
        status: 400, code: "NoFreePhysicalPorts", message: "Unable to attach VIF vif-1, not enough free physical ports.")
}
