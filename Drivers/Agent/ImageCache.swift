import AsyncHTTPClient
import Core
import Foundation
import Logging

/// The conductor's cache of images it serves over HTTP: deploy kernels and ramdisks for the
/// boot interfaces, and instance images for the `direct` deploy when
/// `[deploy] image_download_source = http`.
///
/// Each distinct content is stored once, as `http_root/master_images/<sha256>`; what a node
/// uses is a hard link to it (`http_root/images/<node uuid>/disk`,
/// `http_root/<node uuid>/deploy_kernel`). A small index (`master_images/.sources/`,
/// never served) remembers what each source held when it was fetched, so a source is
/// fetched again only when it changed:
///
/// - a local file (`file://` URL or absolute path) when its size or modification time differs;
/// - an http(s) URL when a conditional GET (`If-None-Match` / `If-Modified-Since` with the
///   ETag and Last-Modified the server sent) does not answer 304. A server that sent neither
///   is trusted to serve the same content (as Ironic does), unless a checksum says otherwise.
///
/// Concurrent requests for one source share one download. Downloads stream to disk; the
/// digests are computed on the way (sha256 always, plus the caller's algorithm), and content
/// that does not match the caller's checksum is discarded, never published.
///
/// The cache is bounded by `[pxe] image_cache_size` and `image_cache_ttl`: after each fetch,
/// master files no node links to (link count 1) are removed when unused for longer than the
/// TTL, then least recently used first while the cache is larger than its size.
///
/// ```swift
/// let images = ImageCache(settings: config.deploy, logger: logger)
/// let url = try await images.publish(
///     source: "http://images.example/jammy.qcow2", nodeUUID: node.uuid,
///     checksum: ImageChecksum(algorithm: "sha256", value: "9f86d0..."))
/// // url == http_url/images/<node uuid>/disk
/// ```
public actor ImageCache {
    /// Where the files live.
    public nonisolated let files: BootFiles
    /// `[pxe] image_cache_size`, in bytes.
    public nonisolated let maxBytes: Int64
    /// `[pxe] image_cache_ttl`.
    public nonisolated let ttl: Duration
    let logger: Logger
    let client: HTTPClient
    private var inFlight: [String: Task<Fetched, any Error>] = [:]
    /// Master files just stored that their requesters have not linked yet: never evicted.
    private var pinned: [String: Int] = [:]
    /// How many times content was copied into the cache (downloads and local copies).
    public private(set) var transfers = 0

    /// Downloads through a client that reports a refused connection at once instead of
    /// retrying it until the request's deadline (the caller may hold a node's lock).
    public static let defaultClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The cache under `[deploy] http_root`, bounded by `[pxe] image_cache_size`/`_ttl`.
    public init(settings: DeployConfig, logger: Logger = Logger(label: "ironic.images"), client: HTTPClient = ImageCache.defaultClient) {
        self.init(
            files: BootFiles(settings: settings), maxSizeMiB: settings.imageCacheSizeMiB, ttl: settings.imageCacheTTL,
            logger: logger, client: client)
    }

    /// A cache over `files`, holding at most `maxSizeMiB` of unlinked content for `ttl`.
    public init(files: BootFiles, maxSizeMiB: Int, ttl: Duration, logger: Logger = Logger(label: "ironic.images"), client: HTTPClient = ImageCache.defaultClient) {
        self.files = files
        self.maxBytes = Int64(maxSizeMiB) * 1024 * 1024
        self.ttl = ttl
        self.logger = logger
        self.client = client
    }

    /// Makes `source` available as `http_url/images/<node uuid>/disk` and returns that URL.
    ///
    /// - Parameters:
    ///   - source: `instance_info.image_source`: an http(s) URL, a `file://` URL or an absolute path.
    ///   - checksum: the digest the content must have; nothing is published when it differs.
    /// - Throws: ``ImageCacheError``.
    public func publish(source: String, nodeUUID: String, checksum: ImageChecksum?) async throws -> URL {
        try await fetch(source: source, checksum: checksum, linkAt: files.imagePath(nodeUUID))
        guard let url = URL(string: files.imageURL(nodeUUID)) else {
            throw ImageCacheError.storage("\(files.imageURL(nodeUUID)) is not a URL; check [deploy] http_url")
        }
        return url
    }

    /// Removes `http_root/images/<node uuid>`; the master copy stays until evicted.
    public func unpublish(nodeUUID: String) async {
        do {
            try BootFiles.removeTree(files.imageDirectory(nodeUUID))
        } catch {
            logger.warning("could not remove the published image of node \(nodeUUID): \(error)")
        }
        cleanUp()
    }

    /// Makes `path` a hard link to the cached content of `source`, fetching it if needed.
    /// - Throws: ``ImageCacheError``.
    public func fetch(source: String, checksum: ImageChecksum?, linkAt path: String) async throws {
        if let checksum, !ImageChecksum.algorithms.contains(checksum.algorithm) {
            throw ImageCacheError.unsupportedChecksumAlgorithm(checksum.algorithm)
        }
        let origin = try ImageSource(source)
        var refresh = false
        while true {
            let fetched = try await obtain(origin, checksum: checksum, refresh: refresh)
            defer { unpin(fetched.entry.sha256) }
            if let checksum {
                let actual = try await digest(of: fetched.entry, algorithm: checksum.algorithm, key: origin.key)
                if actual != checksum.value {
                    // Cached content that no longer matches: the source may have changed since.
                    if !fetched.fresh && !refresh {
                        logger.info("cached copy of \(source) does not match \(checksum); fetching it again")
                        refresh = true
                        continue
                    }
                    throw ImageCacheError.checksumMismatch(source: source, expected: checksum, actual: actual)
                }
            }
            let master = masterPath(fetched.entry.sha256)
            do {
                try BootFiles.hardLink(path, to: master)
            } catch let error where error.errno == ENOENT && !refresh {
                // Evicted by another cache over the same directory between lookup and link.
                refresh = true
                continue
            } catch {
                throw ImageCacheError.storage("\(error)")
            }
            touch(master)
            cleanUp()
            return
        }
    }

    // MARK: Lookup and transfer

    /// What a lookup found: the index entry, and whether it was copied just now.
    struct Fetched: Sendable {
        var entry: CacheEntry
        var fresh: Bool
    }

    private func obtain(_ origin: ImageSource, checksum: ImageChecksum?, refresh: Bool) async throws -> Fetched {
        if let task = inFlight[origin.key] {
            var fetched = try await task.value
            pin(fetched.entry.sha256)
            fetched.fresh = true
            return fetched
        }
        if !refresh, let checksum, checksum.algorithm == "sha256", FileManager.default.fileExists(atPath: masterPath(checksum.value)) {
            // The content is already here, whichever source brought it.
            let entry = readEntry(origin.key).flatMap { $0.sha256 == checksum.value ? $0 : nil }
                ?? CacheEntry(source: origin.key, sha256: checksum.value, digests: ["sha256": checksum.value], size: 0)
            pin(entry.sha256)
            return Fetched(entry: entry, fresh: false)
        }
        let cached = refresh ? nil : readEntry(origin.key).flatMap { FileManager.default.fileExists(atPath: masterPath($0.sha256)) ? $0 : nil }
        let temporary = "\(files.masterDirectory)/.download-\(UUID().uuidString)"
        let verify = checksum
        let (client, logger, directory) = (client, logger, files.masterDirectory)
        let task = Task<Fetched, any Error> {
            try BootFiles.makeDirectory(directory)
            let outcome = try await Self.transfer(origin, cached: cached, algorithm: verify?.algorithm, into: temporary, client: client, logger: logger)
            switch outcome {
            case .unchanged:
                guard let cached else { throw ImageCacheError.storage("no cached copy of \(origin.key) to reuse") }
                return try await self.reuse(cached, key: origin.key)
            case .copied(let copy):
                return try await self.install(copy, key: origin.key, verify: verify)
            }
        }
        inFlight[origin.key] = task
        do {
            let fetched = try await task.value
            inFlight[origin.key] = nil
            return fetched
        } catch {
            inFlight[origin.key] = nil
            throw error
        }
    }

    private func reuse(_ entry: CacheEntry, key: String) throws -> Fetched {
        pin(entry.sha256)
        return Fetched(entry: entry, fresh: false)
    }

    /// Moves a finished copy into place: verified, renamed to its sha256, indexed.
    private func install(_ copy: TransferredCopy, key: String, verify: ImageChecksum?) throws -> Fetched {
        transfers += 1
        if let verify, let actual = copy.digests[verify.algorithm], actual != verify.value {
            _ = unlink(copy.path)
            throw ImageCacheError.checksumMismatch(source: key, expected: verify, actual: actual)
        }
        guard let sha256 = copy.digests["sha256"] else { throw ImageCacheError.storage("no sha256 computed") }
        let master = masterPath(sha256)
        if FileManager.default.fileExists(atPath: master) {
            _ = unlink(copy.path)
        } else if rename(copy.path, master) != 0 {
            let code = errno
            _ = unlink(copy.path)
            throw ImageCacheError.storage("rename to \(master) failed: \(String(cString: strerror(code)))")
        }
        // Every waiter pins it again; this pin is the installer's and ends with its fetch.
        pin(sha256)
        let entry = CacheEntry(
            source: key, sha256: sha256, digests: copy.digests, size: copy.size, sourceModified: copy.sourceModified,
            etag: copy.etag, lastModified: copy.lastModified, fetchedAt: Date().timeIntervalSince1970)
        writeEntry(entry, key: key)
        logger.info("cached \(key) as \(master) (\(copy.size) bytes)")
        return Fetched(entry: entry, fresh: true)
    }

    /// The content's digest in `algorithm`: from the index, or computed from the master file.
    private func digest(of entry: CacheEntry, algorithm: String, key: String) async throws -> String {
        if let known = entry.digests[algorithm] { return known }
        let path = masterPath(entry.sha256)
        let digests = try await ImageTransfer.onOwnThread("ironic-image-hash") {
            try ImageTransfer.hashFile(path, also: algorithm)
        }
        guard let value = digests[algorithm] else { throw ImageCacheError.unsupportedChecksumAlgorithm(algorithm) }
        if var stored = readEntry(key), stored.sha256 == entry.sha256 {
            stored.digests[algorithm] = value
            writeEntry(stored, key: key)
        }
        return value
    }

    nonisolated static func transfer(
        _ origin: ImageSource, cached: CacheEntry?, algorithm: String?, into temporary: String, client: HTTPClient, logger: Logger
    ) async throws -> TransferOutcome {
        switch origin {
        case .local(let path):
            return try await ImageTransfer.copyLocal(path, cached: cached, algorithm: algorithm, into: temporary, logger: logger)
        case .http(let url):
            return try await ImageTransfer.download(url, cached: cached, algorithm: algorithm, into: temporary, client: client, logger: logger)
        }
    }

    // MARK: Eviction

    /// Removes master files no node links to: those unused for longer than the TTL, then the
    /// least recently used while the cache is larger than its size. Returns how many went.
    @discardableResult
    public func cleanUp() -> Int {
        let directory = files.masterDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        struct Candidate {
            var name: String
            var size: Int64
            var lastUsed: Double
        }
        var total: Int64 = 0
        var candidates: [Candidate] = []
        let now = Date().timeIntervalSince1970
        for name in names {
            let path = "\(directory)/\(name)"
            guard let info = FileStatus(path), info.isRegularFile else { continue }
            if name.hasPrefix(".download-") {
                // A copy a crashed process left behind (running copies write continuously).
                if now - info.modified > 3600 { _ = unlink(path) }
                continue
            }
            guard CacheEntry.isDigest(name) else { continue }
            total += info.size
            guard info.links == 1, pinned[name] == nil else { continue }
            candidates.append(Candidate(name: name, size: info.size, lastUsed: max(info.modified, info.accessed)))
        }
        candidates.sort { $0.lastUsed < $1.lastUsed }
        let threshold = now - Double(ttl.components.seconds)
        var removed = 0
        for candidate in candidates {
            guard candidate.lastUsed < threshold || total > maxBytes else { break }
            guard unlink("\(directory)/\(candidate.name)") == 0 else { continue }
            total -= candidate.size
            removed += 1
            logger.info("evicted \(candidate.name) from the image cache (\(candidate.size) bytes)")
        }
        if total > maxBytes {
            logger.warning("image cache \(directory) holds \(total) bytes in use, more than [pxe] image_cache_size (\(maxBytes))")
        }
        if removed > 0 { pruneIndex() }
        return removed
    }

    /// Drops index entries whose content was evicted.
    private func pruneIndex() {
        let directory = indexDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasSuffix(".json") {
            let path = "\(directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path),
                let entry = try? JSONDecoder().decode(CacheEntry.self, from: data)
            else {
                _ = unlink(path)
                continue
            }
            if !FileManager.default.fileExists(atPath: masterPath(entry.sha256)) { _ = unlink(path) }
        }
    }

    // MARK: Files

    private var indexDirectory: String { "\(files.masterDirectory)/.sources" }

    private nonisolated func masterPath(_ sha256: String) -> String { "\(files.masterDirectory)/\(sha256)" }

    private func indexPath(_ key: String) -> String { "\(indexDirectory)/\(ImageHashers.sha256(of: key)).json" }

    private func readEntry(_ key: String) -> CacheEntry? {
        guard let data = FileManager.default.contents(atPath: indexPath(key)),
            let entry = try? JSONDecoder().decode(CacheEntry.self, from: data), entry.source == key
        else { return nil }
        return entry
    }

    private func writeEntry(_ entry: CacheEntry, key: String) {
        do {
            let data = try JSONEncoder().encode(entry)
            try BootFiles.write(String(decoding: data, as: UTF8.self), to: indexPath(key))
        } catch {
            logger.warning("could not record \(key) in the image cache index: \(error)")
        }
    }

    /// Marks a master file used now (the eviction order).
    private func touch(_ path: String) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: path)
    }

    private func pin(_ sha256: String) { pinned[sha256, default: 0] += 1 }

    private func unpin(_ sha256: String) {
        guard let count = pinned[sha256] else { return }
        pinned[sha256] = count > 1 ? count - 1 : nil
    }
}

/// Where an image comes from.
enum ImageSource: Sendable, Hashable {
    case http(String)
    case local(String)

    init(_ source: String) throws(ImageCacheError) {
        let lowered = source.lowercased()
        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
            guard URL(string: source)?.host != nil else { throw .unsupportedSource(source) }
            self = .http(source)
        } else if lowered.hasPrefix("file://") {
            guard let path = URL(string: source)?.path, path.hasPrefix("/") else { throw .unsupportedSource(source) }
            self = .local(path)
        } else if source.hasPrefix("/") {
            self = .local(source)
        } else {
            throw .unsupportedSource(source)
        }
    }

    /// The index key: the URL, or the absolute path.
    var key: String {
        switch self {
        case .http(let url): url
        case .local(let path): path
        }
    }
}

/// What the index remembers of one source.
struct CacheEntry: Sendable, Hashable, Codable {
    var source: String
    var sha256: String
    /// Algorithm → hex digest of the content.
    var digests: [String: String]
    var size: Int64
    /// A local source's modification time (seconds since 1970) when it was copied.
    var sourceModified: Double?
    var etag: String?
    var lastModified: String?
    var fetchedAt: Double = Date().timeIntervalSince1970

    static func isDigest(_ name: String) -> Bool {
        name.count == 64 && name.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
