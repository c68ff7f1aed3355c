import Core

/// `noop` network: no network service is told anything; VIFs are only recorded on the node's
/// ports and portgroups.
///
/// Ironic's own `noop` accepts a VIF without recording it anywhere. This build ships no `flat`
/// or `neutron`, so `noop` takes over the bookkeeping half of their attach logic
/// (`VIFAttachment`) to keep `vif attach`/`vif list` meaningful.
public struct NoopNetwork: NetworkInterface {
    /// `noop`.
    public var name: String { "noop" }

    /// Creates the implementation.
    public init() {}

    /// Picks a free portgroup, else a free port, by Ironic's VIF rules.
    ///
    /// The conductor honours a `port_uuid` or `portgroup_uuid` from the request before asking
    /// (`VIFAttachment.chooseTarget(ports:portgroups:vifID:portUUID:portgroupUUID:)` takes them
    /// too, for when the protocol carries them).
    ///
    /// - Throws: `VifAlreadyAttached` (409) or `NoFreePhysicalPorts` (400).
    public func chooseAttachmentTarget(
        ports: [NodePort], portgroups: [Portgroup], vifID: String, task: NodeTask
    ) throws -> String {
        try VIFAttachment.chooseTarget(ports: ports, portgroups: portgroups, vifID: vifID)
    }
}
