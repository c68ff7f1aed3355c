import Crypto
import Foundation

/// An image's expected digest, as `instance_info` gives it (`image_os_hash_algo` and
/// `image_os_hash_value`, or a bare `image_checksum`).
public struct ImageChecksum: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The algorithms the cache can verify.
    public static let algorithms = ["md5", "sha256", "sha512"]

    /// `md5`, `sha256` or `sha512`.
    public var algorithm: String
    /// The digest, lower-case hex.
    public var value: String

    /// Creates a checksum; `value` is lower-cased.
    public init(algorithm: String, value: String) {
        self.algorithm = algorithm.lowercased()
        self.value = value.lowercased()
    }

    public var description: String { "\(algorithm):\(value)" }
}

/// Why the image cache could not provide an image.
public enum ImageCacheError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The content does not have the digest the caller expects; nothing was published.
    case checksumMismatch(source: String, expected: ImageChecksum, actual: String)
    /// The source could not be read or fetched.
    case downloadFailed(source: String, reason: String)
    /// The source is neither an http(s) nor a `file://` URL nor an absolute path.
    case unsupportedSource(String)
    /// The checksum's algorithm is not one of ``ImageChecksum/algorithms``.
    case unsupportedChecksumAlgorithm(String)
    /// The cache directory could not be written.
    case storage(String)

    public var description: String {
        switch self {
        case .checksumMismatch(let source, let expected, let actual):
            "Image \(source) failed to verify against checksum. Expected \(expected.algorithm) \(expected.value), got \(actual)."
        case .downloadFailed(let source, let reason):
            "Failed to download image \(source), reason: \(reason)"
        case .unsupportedSource(let source):
            "Validation of image href \(source) failed, reason: expected an http(s) URL, a file:// URL or an absolute path."
        case .unsupportedChecksumAlgorithm(let algorithm):
            "Unsupported image checksum algorithm \(algorithm): md5, sha256 or sha512."
        case .storage(let reason):
            "The image cache could not store the image: \(reason)"
        }
    }
}

/// The digests computed while an image is copied: always sha256 (the cache key), and the
/// caller's algorithm when it is another one.
struct ImageHashers {
    private var sha256 = SHA256()
    private var sha512: SHA512?
    private var md5: Insecure.MD5?

    init(also algorithm: String?) {
        if algorithm == "sha512" { sha512 = SHA512() }
        if algorithm == "md5" { md5 = Insecure.MD5() }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
        md5?.update(bufferPointer: bytes)
    }

    /// Algorithm → lower-case hex digest.
    func finalize() -> [String: String] {
        var digests = ["sha256": Self.hex(sha256.finalize())]
        if let sha512 { digests["sha512"] = Self.hex(sha512.finalize()) }
        if let md5 { digests["md5"] = Self.hex(md5.finalize()) }
        return digests
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The sha256 of a string, hex: names index entries after their source.
    static func sha256(of string: String) -> String {
        hex(SHA256.hash(data: Data(string.utf8)))
    }
}
