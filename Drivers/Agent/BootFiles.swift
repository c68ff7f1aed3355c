import Core
import Foundation

/// The files machines fetch while they network-boot, laid out under `[deploy] http_root` and
/// reachable at `[deploy] http_url` (the `pxe` interface uses the same layout under
/// `[pxe] tftp_root`, see ``PXEBoot``):
///
/// ```
/// http_root/
///   boot.ipxe                      generic script: chains to pxelinux.cfg/<mac> of each NIC
///   pxelinux.cfg/
///     52-54-00-12-34-56            iPXE: symbolic link to ../<node uuid>/config
///   <node uuid>/
///     config                       the node's iPXE script
///     deploy_kernel                hard links into master_images/
///     deploy_ramdisk
///   images/<node uuid>/disk        the instance image (`direct` deploy), a hard link
///   master_images/<sha256>         one file per content, shared by every node
/// ```
///
/// Every file is written atomically (a temporary file in the same directory, then
/// `rename(2)`), so a machine fetching a script never sees half of it.
public struct BootFiles: Sendable, Hashable {
    /// `[deploy] http_root`.
    public let root: String
    /// `[deploy] http_url`, without a trailing `/`.
    public let baseURL: String
    /// The content-addressed cache the node files are hard links to (`root/master_images`
    /// unless given, as `[pxe] tftp_master_path` may).
    public let masterDirectory: String

    /// The layout `[deploy] http_root` and `http_url` describe.
    public init(settings: DeployConfig) {
        self.init(root: settings.httpRoot, baseURL: settings.httpURL)
    }

    /// The layout under `root`, served at `baseURL`, with its cache in `masterDirectory`
    /// (default `root/master_images`).
    public init(root: String, baseURL: String, masterDirectory: String? = nil) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.masterDirectory = masterDirectory ?? "\(self.root)/master_images"
    }

    /// Name of the directory holding one entry per MAC (Ironic's name, which pxelinux expects).
    public static let macDirectoryName = "pxelinux.cfg"
    /// Name of the generic iPXE script.
    public static let bootScriptName = "boot.ipxe"

    /// `http_root/boot.ipxe`.
    public var bootScriptPath: String { "\(root)/\(Self.bootScriptName)" }
    /// `http_url/boot.ipxe`: the boot file DHCP hands to iPXE clients.
    public var bootScriptURL: String { "\(baseURL)/\(Self.bootScriptName)" }
    /// `http_root/pxelinux.cfg`.
    public var macDirectory: String { "\(root)/\(Self.macDirectoryName)" }
    /// `http_root/<node uuid>`.
    public func nodeDirectory(_ nodeUUID: String) -> String { "\(root)/\(nodeUUID)" }
    /// `http_root/<node uuid>/<name>` (`config`, `deploy_kernel`, `deploy_ramdisk`, ...).
    public func nodeFile(_ nodeUUID: String, _ name: String) -> String { "\(root)/\(nodeUUID)/\(name)" }
    /// `http_url/<node uuid>/<name>`.
    public func nodeFileURL(_ nodeUUID: String, _ name: String) -> String { "\(baseURL)/\(nodeUUID)/\(name)" }
    /// `http_root/<node uuid>/config`: the node's iPXE script.
    public func nodeConfig(_ nodeUUID: String) -> String { nodeFile(nodeUUID, "config") }

    /// `http_root/pxelinux.cfg/aa-bb-cc-dd-ee-ff`: the name iPXE asks for (`${mac:hexhyp}`).
    public func ipxeMACEntry(_ mac: String) -> String { "\(macDirectory)/\(Self.hyphenated(mac))" }
    /// `http_root/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff`: the name pxelinux asks for (ARP type 1).
    public func pxelinuxMACEntry(_ mac: String) -> String { "\(macDirectory)/01-\(Self.hyphenated(mac))" }

    /// `http_root/images/<node uuid>`.
    public func imageDirectory(_ nodeUUID: String) -> String { "\(root)/images/\(nodeUUID)" }
    /// `http_root/images/<node uuid>/disk`.
    public func imagePath(_ nodeUUID: String) -> String { "\(imageDirectory(nodeUUID))/disk" }
    /// `http_url/images/<node uuid>/disk`.
    public func imageURL(_ nodeUUID: String) -> String { "\(baseURL)/images/\(nodeUUID)/disk" }

    /// `aa:bb:cc:dd:ee:ff` as `aa-bb-cc-dd-ee-ff`.
    public static func hyphenated(_ mac: String) -> String {
        mac.lowercased().replacingOccurrences(of: ":", with: "-")
    }

    /// Whether `mac` is six colon-separated hex octets; anything else never becomes a file name.
    public static func isMAC(_ mac: String) -> Bool {
        let octets = mac.split(separator: ":", omittingEmptySubsequences: false)
        return octets.count == 6 && octets.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }

    // MARK: The generic script

    /// The generic iPXE script: tries `pxelinux.cfg/${mac:hexhyp}` for the NIC iPXE came up
    /// on, then for every NIC; when no NIC has a script it leaves iPXE with an error, so the
    /// firmware goes on to its next boot device (the disk of a deployed machine). A chained
    /// script that returns (a failed `sanboot` on some UEFI firmware) ends iPXE the same way.
    public var bootScript: String {
        let prefix = "\(baseURL)/\(Self.macDirectoryName)/"
        return """
            #!ipxe
            # Written by ironic: fetches the boot script of this machine's MAC address.

            # The NIC iPXE came up on first.
            chain \(prefix)${mac:hexhyp} || goto each_nic
            exit 0

            # Then every NIC in turn.
            :each_nic
            set nic:int32 -1
            :next_nic
            inc nic || goto no_script
            isset ${net${nic}/mac} || goto no_script
            echo Asking for the boot script of ${net${nic}/mac:hexhyp}
            chain \(prefix)${net${nic}/mac:hexhyp} || goto next_nic
            exit 0

            :no_script
            echo No boot script for any NIC of this machine: leaving iPXE for the next boot device.
            sleep 3
            exit 1

            """
    }

    /// Writes `boot.ipxe` (at server start, and whenever a boot interface prepares a node).
    public func writeBootScript() throws(BootFileError) {
        try Self.write(bootScript, to: bootScriptPath)
    }

    // MARK: Atomic file operations

    /// Writes `contents` to `path` atomically, creating the directories on the way.
    public static func write(_ contents: String, to path: String) throws(BootFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = temporaryName(for: path)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(contents.utf8)) else {
            throw BootFileError(path: temporary, operation: "write", errno: errno)
        }
        try rename(temporary, to: path)
    }

    /// Makes `path` a symbolic link to `target` (relative to `path`'s directory), atomically
    /// replacing whatever was there.
    public static func symlink(_ path: String, to target: String) throws(BootFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = temporaryName(for: path)
        guard Foundation.symlink(target, temporary) == 0 else {
            throw BootFileError(path: temporary, operation: "symlink", errno: errno)
        }
        try rename(temporary, to: path)
    }

    /// Copies the file `source` to `path` atomically (boot loaders from the host's packages).
    public static func copy(_ path: String, from source: String) throws(BootFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = temporaryName(for: path)
        do {
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
        } catch {
            _ = unlink(temporary)
            throw BootFileError(path: source, operation: "copy", errno: (error as NSError).domain == NSPOSIXErrorDomain ? Int32((error as NSError).code) : EIO)
        }
        chmod(temporary, 0o644)
        try rename(temporary, to: path)
    }

    /// Hard-links `path` to the existing file `source`, atomically replacing what was there.
    public static func hardLink(_ path: String, to source: String) throws(BootFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = temporaryName(for: path)
        guard Foundation.link(source, temporary) == 0 else {
            throw BootFileError(path: source, operation: "link", errno: errno)
        }
        try rename(temporary, to: path)
        // rename(2) between two links of the same file does nothing and succeeds, leaving
        // the temporary link behind.
        _ = unlink(temporary)
    }

    /// Removes a file or link; a missing one is not an error.
    public static func remove(_ path: String) throws(BootFileError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw BootFileError(path: path, operation: "unlink", errno: errno)
        }
    }

    /// Removes a directory and everything in it; a missing one is not an error.
    public static func removeTree(_ path: String) throws(BootFileError) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw BootFileError(path: path, operation: "remove", errno: EIO)
        }
    }

    /// Creates `path` and its parents (mode 0755).
    public static func makeDirectory(_ path: String) throws(BootFileError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BootFileError(path: path, operation: "mkdir", errno: EIO)
        }
    }

    private static func rename(_ temporary: String, to path: String) throws(BootFileError) {
        guard Foundation.rename(temporary, path) == 0 else {
            let code = errno
            _ = unlink(temporary)
            throw BootFileError(path: path, operation: "rename", errno: code)
        }
    }

    /// A name beside `path` that no other writer uses (hidden, so never mistaken for an entry).
    static func temporaryName(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return "\(directory)/.\(name).\(UUID().uuidString.prefix(8)).tmp"
    }
}

/// A boot file could not be written or removed.
public struct BootFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file concerned.
    public let path: String
    /// The system call or step that failed (`write`, `rename`, `link`, ...).
    public let operation: String
    /// The system's error number.
    public let errno: Int32

    /// Creates an error.
    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation) \(path) failed: \(String(cString: strerror(errno)))" }
}
