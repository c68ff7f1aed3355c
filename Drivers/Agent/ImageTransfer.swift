import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The outcome of bringing a source into the cache.
enum TransferOutcome: Sendable {
    /// The cached copy is still what the source holds.
    case unchanged
    /// The content was copied to a temporary file.
    case copied(TransferredCopy)
}

/// A finished copy in a temporary file of the cache directory.
struct TransferredCopy: Sendable {
    var path: String
    var digests: [String: String]
    var size: Int64
    var sourceModified: Double?
    var etag: String?
    var lastModified: String?
}

/// Copies of image content into the cache, streamed in chunks and hashed on the way.
///
/// Threading: local files are read and written with blocking calls, on a thread of their
/// own (never the cooperative pool); HTTP bodies arrive as an async sequence of buffers, each
/// written with one `write(2)` to the page cache.
enum ImageTransfer {
    /// A copy is logged at each 10 % when it is at least this large.
    static let progressThreshold: Int64 = 64 * 1024 * 1024
    static let chunkSize = 1024 * 1024
    /// The longest wait for a server's response head; the body may take as long as it needs.
    static let responseTimeout: TimeAmount = .seconds(120)

    /// Copies a local file unless the cached copy has the same size and modification time.
    static func copyLocal(_ path: String, cached: CacheEntry?, algorithm: String?, into temporary: String, logger: Logger) async throws
        -> TransferOutcome
    {
        guard let status = FileStatus(path), status.isRegularFile else {
            throw ImageCacheError.downloadFailed(source: path, reason: "no such file")
        }
        if let cached, cached.size == status.size, cached.sourceModified == status.modified {
            return .unchanged
        }
        return try await onOwnThread("ironic-image-copy") {
            guard let input = fopenRead(path) else {
                throw ImageCacheError.downloadFailed(source: path, reason: String(cString: strerror(errno)))
            }
            defer { close(input) }
            let output = try TemporaryFile(temporary)
            var hashers = ImageHashers(also: algorithm)
            var progress = TransferProgress(source: path, expected: status.size, logger: logger)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { buffer.deallocate() }
            do {
                while true {
                    let count = read(input, buffer.baseAddress, chunkSize)
                    if count < 0 {
                        if errno == EINTR { continue }
                        throw ImageCacheError.downloadFailed(source: path, reason: String(cString: strerror(errno)))
                    }
                    if count == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                    try output.write(chunk)
                    hashers.update(chunk)
                    progress.advance(count)
                }
                try output.finish()
            } catch {
                output.discard()
                throw error
            }
            return .copied(
                TransferredCopy(path: temporary, digests: hashers.finalize(), size: progress.done, sourceModified: status.modified))
        }
    }

    /// Downloads `url`, conditionally when the cached copy has validators.
    static func download(
        _ url: String, cached: CacheEntry?, algorithm: String?, into temporary: String, client: HTTPClient, logger: Logger
    ) async throws -> TransferOutcome {
        if let cached, cached.etag == nil, cached.lastModified == nil {
            // Nothing to revalidate with; the server is trusted to serve what it served.
            return .unchanged
        }
        var request = HTTPClientRequest(url: url)
        if let etag = cached?.etag { request.headers.add(name: "If-None-Match", value: etag) }
        if let lastModified = cached?.lastModified { request.headers.add(name: "If-Modified-Since", value: lastModified) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: responseTimeout)
        } catch {
            throw ImageCacheError.downloadFailed(source: url, reason: "\(error)")
        }
        if response.status == .notModified, cached != nil {
            // Drain nothing: a 304 has no body.
            return .unchanged
        }
        guard response.status == .ok else {
            throw ImageCacheError.downloadFailed(source: url, reason: "HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
        let expected = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        let output = try TemporaryFile(temporary)
        var hashers = ImageHashers(also: algorithm)
        var progress = TransferProgress(source: url, expected: expected, logger: logger)
        do {
            for try await buffer in response.body {
                try buffer.withUnsafeReadableBytes { bytes in
                    try output.write(bytes)
                    hashers.update(bytes)
                }
                progress.advance(buffer.readableBytes)
            }
            if let expected, progress.done != expected {
                throw ImageCacheError.downloadFailed(source: url, reason: "received \(progress.done) of \(expected) bytes")
            }
            try output.finish()
        } catch let error as ImageCacheError {
            output.discard()
            throw error
        } catch {
            output.discard()
            throw ImageCacheError.downloadFailed(source: url, reason: "\(error)")
        }
        return .copied(
            TransferredCopy(
                path: temporary, digests: hashers.finalize(), size: progress.done,
                etag: response.headers.first(name: "ETag"), lastModified: response.headers.first(name: "Last-Modified")))
    }

    /// Hashes a file already in the cache (for an algorithm the index lacks).
    static func hashFile(_ path: String, also algorithm: String) throws -> [String: String] {
        guard let input = fopenRead(path) else {
            throw ImageCacheError.storage("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(input) }
        var hashers = ImageHashers(also: algorithm)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(input, buffer.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR { continue }
                throw ImageCacheError.storage("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hashers.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hashers.finalize()
    }

    /// Runs blocking work on a new thread and waits for it without holding a pool thread.
    static func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }

    private static func fopenRead(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }
}

/// A file being written in the cache directory; removed unless finished.
final class TemporaryFile {
    let path: String
    private var fd: Int32

    init(_ path: String) throws(ImageCacheError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .storage("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ImageCacheError) {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .storage("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    func finish() throws(ImageCacheError) {
        let result = close(fd)
        fd = -1
        guard result == 0 else { throw .storage("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        _ = unlink(path)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }
}

/// Logs a large copy's progress at each 10 %.
struct TransferProgress {
    let source: String
    let expected: Int64?
    let logger: Logger
    private(set) var done: Int64 = 0
    private var reported = 0

    init(source: String, expected: Int64?, logger: Logger) {
        self.source = source
        self.expected = expected
        self.logger = logger
    }

    mutating func advance(_ count: Int) {
        done += Int64(count)
        if let expected, expected >= ImageTransfer.progressThreshold {
            let tenth = Int(done * 10 / expected)
            if tenth > reported, tenth < 10 {
                reported = tenth
                logger.info("fetching \(source): \(tenth * 10) % (\(done / 1_048_576) of \(expected / 1_048_576) MiB)")
            }
        } else if expected == nil, done / 1_073_741_824 > Int64(reported) {
            // Unknown length: a line per GiB.
            reported = Int(done / 1_073_741_824)
            logger.info("fetching \(source): \(reported) GiB so far")
        }
    }
}

/// `stat(2)` of a path, without following a final symbolic link.
struct FileStatus {
    var size: Int64
    var modified: Double
    var accessed: Double
    var links: Int
    var isRegularFile: Bool

    init?(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        size = Int64(info.st_size)
        links = Int(info.st_nlink)
        isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
        #if os(Linux)
        modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        accessed = Double(info.st_atim.tv_sec) + Double(info.st_atim.tv_nsec) / 1e9
        #else
        modified = Double(info.st_mtimespec.tv_sec) + Double(info.st_mtimespec.tv_nsec) / 1e9
        accessed = Double(info.st_atimespec.tv_sec) + Double(info.st_atimespec.tv_nsec) / 1e9
        #endif
    }
}
