import Core

/// What the conductor takes from an inspecting ramdisk's inventory: the node properties
/// Ironic's inspection fills (`cpus`, `cpu_arch`, `memory_mb`, `local_gb`) and the NICs.
struct InspectionData: Sendable {
    /// One NIC of the inventory.
    struct Interface: Sendable, Hashable {
        var name: String
        var mac: String
        /// Whether it had an IPv4 or IPv6 address (it is connected).
        var hasAddress: Bool
    }

    var properties: [String: JSONValue] = [:]
    var interfaces: [Interface] = []
    /// The MAC the node booted from (`boot_interface`), lower case.
    var bootMAC: String?

    /// Reads IPA's inventory; throws `InvalidParameterValue` when it is not an object.
    init(inventory: JSONValue, pluginData: [String: JSONValue]) throws(IronicError) {
        guard let inventory = inventory.objectValue else {
            throw .invalidParameterValue("The inspection data has no inventory object.")
        }
        if let cpu = inventory["cpu"]?.objectValue {
            if let count = cpu["count"]?.intValue { properties["cpus"] = .int(count) }
            if let arch = cpu["architecture"]?.stringValue { properties["cpu_arch"] = .string(arch) }
        }
        if let memory = inventory["memory"]?.objectValue, let physical = memory["physical_mb"]?.intValue {
            properties["memory_mb"] = .int(physical)
        }
        // As Ironic: the root disk (the ramdisk's choice, else the smallest disk of at least
        // 4 GiB) in GiB, less one for partitioning.
        let gib = 1 << 30
        let disks = (inventory["disks"]?.arrayValue ?? []).compactMap { $0.objectValue?["size"]?.intValue }
        let root = pluginData["root_disk"]?.objectValue?["size"]?.intValue ?? disks.filter { $0 >= 4 * gib }.min()
        if let root, root >= gib { properties["local_gb"] = .int(root / gib - 1) }
        for value in inventory["interfaces"]?.arrayValue ?? [] {
            guard let object = value.objectValue, let mac = object["mac_address"]?.stringValue?.lowercased(), !mac.isEmpty else { continue }
            let addressed = [object["ipv4_address"], object["ipv6_address"]].contains { ($0?.stringValue ?? "").isEmpty == false }
            interfaces.append(Interface(name: object["name"]?.stringValue ?? "", mac: mac, hasAddress: addressed))
        }
        if let boot = pluginData["boot_interface"]?.stringValue {
            // `01-aa-bb-cc-dd-ee-ff` (PXE's BOOTIF) or a plain MAC.
            let plain = boot.count == 20 && boot.hasPrefix("01-") ? String(boot.dropFirst(3)) : boot
            bootMAC = plain.replacingOccurrences(of: "-", with: ":").lowercased()
        }
    }
}
