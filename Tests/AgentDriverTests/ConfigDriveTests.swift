@testable import AgentDrivers
import Core
import Foundation
import Testing

/// Config drives as the `direct` deploy hands them to the agent: an object from the
/// provision request becomes what Ironic builds (a gzipped ISO 9660 image labelled
/// `config-2`, in base64), checked here by reading the produced bytes back.
@Suite("Config drive", .timeLimit(.minutes(1)))
struct ConfigDriveTests {
    static func node(name: String? = nil, instanceUUID: String? = nil) -> Node {
        var node = Node(driver: "ipmi")
        node.name = name
        node.instanceUUID = instanceUUID
        return node
    }

    /// Builds the config drive of `contents` for `node` and returns the ISO's bytes.
    static func iso(_ contents: JSONValue, node: Node) async throws -> ISO9660 {
        let built = try await ConfigDrive.value(from: contents, node: node)
        let value = try #require(built)
        let text = try #require(value.stringValue, "a config drive is sent as a string")
        let gzipped = try #require(Data(base64Encoded: text), "base64")
        #expect(Array(gzipped.prefix(3)) == [0x1f, 0x8b, 0x08], "gzip, deflate")
        return try ISO9660(bytes: try gunzip(gzipped))
    }

    @Test func anObjectBecomesAnISOLabelledConfig2() async throws {
        let node = Self.node()
        let network: JSONValue = [
            "links": [["id": "eth0", "type": "phy", "ethernet_mac_address": "52:54:00:aa:bb:01"]],
            "networks": [["id": "net0", "link": "eth0", "type": "ipv4_dhcp"]], "services": [],
        ]
        let iso = try await Self.iso(
            [
                "meta_data": ["hostname": "node-a", "public_keys": ["default": "ssh-ed25519 AAAAC3Nz test"]],
                "user_data": "#cloud-config\npackages: [htop]\n",
                "network_data": network,
                "vendor_data": ["cloud": "lab"],
            ], node: node)

        #expect(iso.volumeIdentifier == "config-2")
        #expect(try iso.list("openstack") == ["latest"])
        #expect(try iso.list("openstack/latest") == ["meta_data.json", "network_data.json", "user_data", "vendor_data2.json"])
        let metaData = try JSONValue.parse(try iso.file("openstack/latest/meta_data.json"))
        #expect(
            metaData == [
                "hostname": "node-a", "public_keys": ["default": "ssh-ed25519 AAAAC3Nz test"], "uuid": .string(node.uuid),
            ])
        #expect(String(decoding: try iso.file("openstack/latest/user_data"), as: UTF8.self) == "#cloud-config\npackages: [htop]\n")
        #expect(try JSONValue.parse(try iso.file("openstack/latest/network_data.json")) == network)
        #expect(try JSONValue.parse(try iso.file("openstack/latest/vendor_data2.json")) == ["cloud": "lab"])
    }

    @Test func onlyTheGivenPartsAreWritten() async throws {
        let node = Self.node()
        let iso = try await Self.iso(["network_data": .null, "user_data": .null], node: node)
        #expect(iso.volumeIdentifier == "config-2")
        #expect(try iso.list("openstack/latest") == ["meta_data.json"])
        #expect(try JSONValue.parse(try iso.file("openstack/latest/meta_data.json")) == ["uuid": .string(node.uuid)])
        let empty = try await Self.iso([:], node: node)
        #expect(try empty.list("openstack/latest") == ["meta_data.json"])
    }

    @Test func userDataThatIsJSONIsWrittenAsJSON() async throws {
        for userData: JSONValue in [["runcmd": ["echo hi"]], ["a", 1]] {
            let iso = try await Self.iso(["user_data": userData], node: Self.node())
            #expect(try JSONValue.parse(try iso.file("openstack/latest/user_data")) == userData)
        }
    }

    @Test func aUUIDInMetaDataIsKept() async throws {
        let iso = try await Self.iso(["meta_data": ["uuid": "from-the-request", "name": "given"]], node: Self.node(name: "node-a"))
        #expect(try JSONValue.parse(try iso.file("openstack/latest/meta_data.json")) == ["uuid": "from-the-request", "name": "given"])
    }

    @Test func metaDataDefaultsToTheNodesUUIDAndNameAsInIronic() async throws {
        // Ironic's build_configdrive: meta_data.setdefault('uuid', node.uuid), and
        // setdefault('name', node.name) when the node has a name.
        let node = Self.node(name: "node-a", instanceUUID: "6f5b4c3a-0000-4000-8000-000000000001")
        let iso = try await Self.iso(["meta_data": ["hostname": "a"]], node: node)
        let metaData = try JSONValue.parse(try iso.file("openstack/latest/meta_data.json"))
        #expect(metaData == ["hostname": "a", "uuid": .string(node.uuid), "name": "node-a"])
    }

    @Test func aStringIsPassedThrough() async throws {
        let node = Self.node()
        for text in ["H4sIAAAAAAAAA+3OMQ6CQBCF4Y05xVzA3ZldQKJHsbMxJmCIhqDx+EK0sCAaCxOT/5vKmymQxkz", "http://images.example/cd.iso.gz"] {
            #expect(try await ConfigDrive.value(from: .string(text), node: node) == .string(text))
        }
        #expect(try await ConfigDrive.value(from: "", node: node) == nil)
        #expect(try await ConfigDrive.value(from: .null, node: node) == nil)
        #expect(try await ConfigDrive.value(from: nil, node: node) == nil)
    }

    @Test(arguments: [JSONValue.int(5), .bool(true), .double(1.5), ["a", "b"]])
    func anythingElseIsA400(value: JSONValue) async throws {
        let node = Self.node()
        let error = await #expect(throws: IronicError.self) { _ = try await ConfigDrive.value(from: value, node: node) }
        #expect(error?.status == 400)
        #expect(error?.code == "InvalidParameterValue")
        #expect(error?.message == "Invalid configdrive for node \(node.uuid): a string or an object is expected.")
    }

    @Test func malformedPartsAreA400AsInIronic() async throws {
        // Ironic's API schema: meta_data, network_data and vendor_data are objects, user_data
        // an object, array or string, and nothing else is allowed.
        let node = Self.node()
        for contents: JSONValue in [["meta_data": "hostname=a"], ["network_data": ["eth0"]], ["userdata": "#cloud-config"]] {
            let error = await #expect(throws: IronicError.self) { _ = try await ConfigDrive.value(from: contents, node: node) }
            #expect(error?.status == 400, "\(contents)")
        }
    }
}

// MARK: Reading the produced bytes

/// `gzip -dc` of `data`.
func gunzip(_ data: Data) throws -> [UInt8] {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("configdrive-\(UUID().uuidString.prefix(8)).gz").path
    try data.write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-dc", path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let bytes = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ISO9660.Failure("gzip -dc exited with \(process.terminationStatus)") }
    return Array(bytes)
}

/// Just enough of ISO 9660 to read a config drive back: the primary volume descriptor's
/// volume identifier, and files found by path through the directory records.
struct ISO9660 {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// A directory record: where its extent is, how long, whether it is a directory.
    struct Record {
        var name: String
        var extent: Int
        var size: Int
        var isDirectory: Bool
    }

    static let sector = 2048
    let bytes: [UInt8]
    let root: Record

    init(bytes: [UInt8]) throws {
        self.bytes = bytes
        let pvd = 16 * Self.sector
        guard bytes.count > pvd + 190, bytes[pvd] == 1, Array(bytes[pvd + 1..<pvd + 6]) == Array("CD001".utf8) else {
            throw Failure("no primary volume descriptor at sector 16")
        }
        root = try Self.record(bytes, at: pvd + 156)
    }

    /// The volume identifier (32 bytes at offset 32808, padded with spaces).
    var volumeIdentifier: String {
        String(decoding: bytes[32808..<32840], as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// The names in the directory at `path` (ISO 9660 names, without `;1` and trailing `.`).
    func list(_ path: String) throws -> [String] {
        try entries(of: try find(path)).map(\.name).sorted()
    }

    /// The contents of the file at `path`.
    func file(_ path: String) throws -> [UInt8] {
        let record = try find(path)
        guard !record.isDirectory else { throw Failure("\(path) is a directory") }
        return Array(bytes[record.extent * Self.sector..<record.extent * Self.sector + record.size])
    }

    private func find(_ path: String) throws -> Record {
        var current = root
        for component in path.split(separator: "/") {
            guard let next = try entries(of: current).first(where: { $0.name == component }) else {
                throw Failure("no \(component) in the ISO (looking for \(path))")
            }
            current = next
        }
        return current
    }

    private func entries(of directory: Record) throws -> [Record] {
        var records: [Record] = []
        var offset = directory.extent * Self.sector
        let end = offset + directory.size
        while offset < end {
            let length = Int(bytes[offset])
            if length == 0 {
                // Records never cross a sector: the rest of this one is padding.
                offset = (offset / Self.sector + 1) * Self.sector
                continue
            }
            let record = try Self.record(bytes, at: offset)
            if !record.name.isEmpty { records.append(record) }
            offset += length
        }
        return records
    }

    private static func record(_ bytes: [UInt8], at offset: Int) throws -> Record {
        guard offset + 33 < bytes.count else { throw Failure("directory record at \(offset) beyond the image") }
        func uint32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[offset + at + $1]) << (8 * $1) } }
        let nameLength = Int(bytes[offset + 32])
        let raw = Array(bytes[offset + 33..<offset + 33 + nameLength])
        // 0x00 and 0x01 name the directory itself and its parent.
        var name = raw == [0] || raw == [1] ? "" : String(decoding: raw, as: UTF8.self)
        if let version = name.firstIndex(of: ";") { name = String(name[..<version]) }
        if name.hasSuffix(".") { name.removeLast() }
        return Record(name: name, extent: uint32(2), size: uint32(10), isDirectory: bytes[offset + 25] & 0x02 != 0)
    }
}
