@testable import AgentDrivers
import Core
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing

/// The conductor's image cache: local and HTTP sources cached once by content, checksums,
/// eviction, and failed downloads that leave nothing behind. HTTP sources come from a small
/// server on 127.0.0.1 started by each test.
@Suite("Image cache", .timeLimit(.minutes(1)))
struct ImageCacheTests {
    /// "abc" and its digests (the FIPS 180 and RFC 1321 test vectors).
    static let abc = "abc"
    static let abcMD5 = "900150983cd24fb0d6963f7d28e17f72"
    static let abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let abcSHA512 =
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

    /// A scratch directory holding source files and an `http_root`, removed afterwards.
    final class Scratch: @unchecked Sendable {
        let directory: String
        let files: BootFiles

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("image-cache-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: "\(directory)/sources", withIntermediateDirectories: true)
            files = BootFiles(root: "\(directory)/httpboot", baseURL: "http://192.0.2.10:8088")
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func cache(maxSizeMiB: Int = 20480, ttl: Duration = .seconds(3600)) -> ImageCache {
            ImageCache(files: files, maxSizeMiB: maxSizeMiB, ttl: ttl, logger: Logger(label: "image-cache-test"))
        }

        /// Writes `contents` to `sources/<name>` and returns its path.
        @discardableResult
        func source(_ name: String, _ contents: String) throws -> String {
            let path = "\(directory)/sources/\(name)"
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }

        /// `http_root/<node>/deploy_kernel`, where a boot interface would link a node's kernel.
        func nodeFile(_ node: String) -> String { files.nodeFile(node, "deploy_kernel") }

        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
        func linkCount(_ path: String) -> Int? { try? FileManager.default.attributesOfItem(atPath: path)[.referenceCount] as? Int }
        func master(_ contents: String) -> String { "\(files.masterDirectory)/\(ImageHashers.sha256(of: contents))" }

        /// The master directory's entries: content files, and anything else but the index.
        func cached() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: files.masterDirectory)) ?? []).filter { $0 != ".sources" }.sorted()
        }

        /// Sets a file's access and modification times `age` in the past.
        func age(_ path: String, by age: Duration) throws {
            let seconds = Int(Date().timeIntervalSince1970) - Int(age.components.seconds)
            var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
            guard utimensat(AT_FDCWD, path, &times, 0) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        }
    }

    // MARK: Local sources

    @Test func aLocalFileIsCachedByContentAndLinkedPerNode() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("ipa.kernel", "deploy kernel")
        try await cache.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-1"))

        #expect(scratch.read(scratch.nodeFile("node-1")) == "deploy kernel")
        #expect(scratch.cached() == [ImageHashers.sha256(of: "deploy kernel")])
        #expect(scratch.linkCount(scratch.master("deploy kernel")) == 2, "the node's file is a hard link to the master copy")
        #expect(await cache.transfers == 1)

        // A second node, naming the same file as a file:// URL: linked, not copied again.
        try await cache.fetch(source: "file://\(path)", checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(await cache.transfers == 1)
        #expect(scratch.linkCount(scratch.master("deploy kernel")) == 3)
        #expect(scratch.read(scratch.nodeFile("node-2")) == "deploy kernel")
        // And a new cache over the same directory (a restarted conductor) reads the index.
        let restarted = scratch.cache()
        try await restarted.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-3"))
        #expect(await restarted.transfers == 0)
        #expect(scratch.linkCount(scratch.master("deploy kernel")) == 4)
    }

    @Test func aChangedLocalFileIsCopiedAgain() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("ipa.kernel", "kernel 1")
        try await cache.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        try scratch.source("ipa.kernel", "kernel 2, rebuilt")
        try await cache.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(await cache.transfers == 2)
        #expect(scratch.read(scratch.nodeFile("node-2")) == "kernel 2, rebuilt")
        #expect(scratch.read(scratch.nodeFile("node-1")) == "kernel 1", "a node's file never changes under it")
        #expect(scratch.cached().count == 2)
    }

    @Test func twoSourcesWithTheSameContentShareOneMasterFile() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let first = try scratch.source("a.img", Self.abc)
        let second = try scratch.source("b.img", Self.abc)
        try await cache.fetch(source: first, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        try await cache.fetch(source: second, checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(scratch.cached() == [Self.abcSHA256])
        #expect(scratch.linkCount(scratch.master(Self.abc)) == 3)
        // With a sha256 checksum, content already cached is not even copied.
        let third = try scratch.source("c.img", Self.abc)
        let transfers = await cache.transfers
        try await cache.fetch(
            source: third, checksum: ImageChecksum(algorithm: "sha256", value: Self.abcSHA256), linkAt: scratch.nodeFile("node-3"))
        #expect(await cache.transfers == transfers)
        #expect(scratch.read(scratch.nodeFile("node-3")) == Self.abc)
    }

    @Test func publishLinksTheImageUnderItsURL() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        let url = try await cache.publish(source: path, nodeUUID: "node-1", checksum: ImageChecksum(algorithm: "md5", value: Self.abcMD5))
        #expect(url.absoluteString == "http://192.0.2.10:8088/images/node-1/disk")
        #expect(scratch.read("\(scratch.directory)/httpboot/images/node-1/disk") == Self.abc)
        await cache.unpublish(nodeUUID: "node-1")
        #expect(!scratch.exists("\(scratch.directory)/httpboot/images/node-1"))
        #expect(scratch.cached() == [Self.abcSHA256], "the master copy stays until evicted")
    }

    @Test func publishingTheSameImageAgainLeavesNoTemporaryLink() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        _ = try await cache.publish(source: path, nodeUUID: "node-1", checksum: nil)
        _ = try await cache.publish(source: path, nodeUUID: "node-1", checksum: nil)
        let directory = "\(scratch.directory)/httpboot/images/node-1"
        // rename(2) of a hard link onto another link of the same file does nothing; no
        // temporary `.disk.*.tmp` may stay behind, served and holding the master.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names == ["disk"])
        #expect(scratch.linkCount(scratch.master(Self.abc)) == 2)
    }

    @Test func aMissingOrUnsupportedSourceIsAClearError() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let missing = "\(scratch.directory)/sources/nowhere.img"
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(source: missing, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        }
        #expect(error == .downloadFailed(source: missing, reason: "no such file"))
        for source in ["ftp://images.example/a.img", "a.img", "https:///a.img"] {
            let error = await #expect(throws: ImageCacheError.self) {
                try await cache.fetch(source: source, checksum: nil, linkAt: scratch.nodeFile("node-1"))
            }
            #expect(error == .unsupportedSource(source))
        }
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
    }

    // MARK: Checksums

    @Test(arguments: [("md5", abcMD5), ("sha256", abcSHA256), ("sha512", abcSHA512), ("SHA512", abcSHA512.uppercased())])
    func aMatchingChecksumIsAccepted(algorithm: String, value: String) async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        try await cache.fetch(source: path, checksum: ImageChecksum(algorithm: algorithm, value: value), linkAt: scratch.nodeFile("node-1"))
        #expect(scratch.read(scratch.nodeFile("node-1")) == Self.abc)
    }

    @Test(arguments: ["md5", "sha256", "sha512"])
    func aChecksumMismatchPublishesNothing(algorithm: String) async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        let wrong = ImageChecksum(
            algorithm: algorithm, value: String(repeating: "0", count: algorithm == "md5" ? 32 : algorithm == "sha256" ? 64 : 128))
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(source: path, checksum: wrong, linkAt: scratch.nodeFile("node-1"))
        }
        let actual = ["md5": Self.abcMD5, "sha256": Self.abcSHA256, "sha512": Self.abcSHA512][algorithm]!
        #expect(error == .checksumMismatch(source: path, expected: wrong, actual: actual))
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("checksum") && message.contains(algorithm) && message.contains(path), "\(message)")
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
        #expect(scratch.cached().isEmpty, "content that does not verify is never stored: \(scratch.cached())")
    }

    @Test func cachedContentIsCheckedAgainstALaterChecksum() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        try await cache.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        // The cached copy does not match: fetched again, still does not match, an error.
        let wrong = ImageChecksum(algorithm: "md5", value: String(repeating: "f", count: 32))
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(source: path, checksum: wrong, linkAt: scratch.nodeFile("node-2"))
        }
        #expect(error == .checksumMismatch(source: path, expected: wrong, actual: Self.abcMD5))
        #expect(!scratch.exists(scratch.nodeFile("node-2")))
        #expect(scratch.read(scratch.nodeFile("node-1")) == Self.abc)
        // The md5 is now known: a right one passes without copying again.
        let transfers = await cache.transfers
        try await cache.fetch(
            source: path, checksum: ImageChecksum(algorithm: "md5", value: Self.abcMD5), linkAt: scratch.nodeFile("node-3"))
        #expect(await cache.transfers == transfers)
    }

    @Test func aSourceThatChangedToMatchTheChecksumIsFetchedAgain() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", "old")
        try await cache.fetch(source: path, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        // Same size, same modification time: only the checksum tells the cache it changed.
        var before = stat()
        #expect(stat(path, &before) == 0)
        try scratch.source("disk.raw", Self.abc)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        try await cache.fetch(
            source: path, checksum: ImageChecksum(algorithm: "sha256", value: Self.abcSHA256), linkAt: scratch.nodeFile("node-2"))
        #expect(scratch.read(scratch.nodeFile("node-2")) == Self.abc)
    }

    @Test func anUnsupportedAlgorithmIsRefusedBeforeAnyCopy() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let path = try scratch.source("disk.raw", Self.abc)
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(
                source: path, checksum: ImageChecksum(algorithm: "sha1", value: "a9993e364706816aba3e25717850c26c9cd0d89d"),
                linkAt: scratch.nodeFile("node-1"))
        }
        #expect(error == .unsupportedChecksumAlgorithm("sha1"))
        #expect(await cache.transfers == 0)
    }

    // MARK: instance_info checksums

    static func request(_ info: [String: JSONValue]) throws(IronicError) -> ImageRequest {
        try ImageRequest(instanceInfo: info, nodeUUID: "node-1")
    }

    @Test func imageOSHashAlgoAndValueNameTheChecksum() throws {
        let request = try Self.request([
            "image_source": "http://images.example/jammy.qcow2", "image_os_hash_algo": "sha512",
            "image_os_hash_value": .string(Self.abcSHA512.uppercased()), "image_checksum": .string(Self.abcMD5),
        ])
        #expect(request.checksum == ImageChecksum(algorithm: "sha512", value: Self.abcSHA512), "os_hash wins over image_checksum")
        #expect(request.diskFormat == "qcow2" && request.imageID == "jammy.qcow2")
    }

    @Test(arguments: [("md5", abcMD5), ("sha256", abcSHA256), ("sha512", abcSHA512)])
    func aBareImageChecksumIsRecognisedByItsLength(algorithm: String, value: String) throws {
        let request = try Self.request(["image_source": "http://images.example/disk.raw", "image_checksum": .string(value.uppercased())])
        #expect(request.checksum == ImageChecksum(algorithm: algorithm, value: value))
        #expect(request.diskFormat == "raw")
    }

    @Test func badChecksumsInInstanceInfoAre400s() throws {
        let source: JSONValue = "http://images.example/disk.raw"
        for (info, text) in [
            (["image_source": source, "image_checksum": "abc123"], "Invalid image_checksum abc123"),
            (["image_source": source, "image_checksum": .string(String(repeating: "z", count: 32))], "not a hex digest"),
            (["image_source": source, "image_os_hash_algo": "sha1", "image_os_hash_value": "00"], "Unsupported image_os_hash_algo sha1"),
            (["image_source": source], "missing the following parameters in instance_info: image_checksum"),
            (["image_source": "/srv/images/disk.raw"], "image_checksum"),
            ([:], "instance_info: image_source"),
        ] as [([String: JSONValue], String)] {
            let error = #expect(throws: IronicError.self) { _ = try Self.request(info) }
            #expect(error?.status == 400)
            #expect(error?.message.contains(text) == true, "\(info): \(String(describing: error))")
        }
    }

    // MARK: HTTP sources

    @Test func anHTTPSourceIsDownloadedOnce() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start(["/ipa.kernel": .file("deploy kernel")])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/ipa.kernel"
        try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(scratch.read(scratch.nodeFile("node-2")) == "deploy kernel")
        #expect(await cache.transfers == 1)
        // A server that sent no ETag or Last-Modified is trusted to serve the same content.
        #expect(server.hits.map(\.path) == ["/ipa.kernel"])
        #expect(scratch.cached() == [ImageHashers.sha256(of: "deploy kernel")])
    }

    @Test func anHTTPSourceWithAnETagIsRevalidated() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start([
            "/disk.raw": .file(Self.abc, etag: "\"v1\"", lastModified: "Mon, 01 Jan 2024 00:00:00 GMT")
        ])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/disk.raw"
        try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(await cache.transfers == 1, "a 304 reuses the cached copy")
        let hits = server.hits
        #expect(hits.count == 2)
        #expect(hits.first?.ifNoneMatch == nil)
        #expect(hits.last?.ifNoneMatch == "\"v1\"")
        #expect(hits.last?.ifModifiedSince == "Mon, 01 Jan 2024 00:00:00 GMT")
        #expect(scratch.read(scratch.nodeFile("node-2")) == Self.abc)
    }

    @Test func concurrentRequestsShareOneDownload() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start(["/slow.img": .file(Self.abc, delay: .milliseconds(300))])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/slow.img"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in 1...4 {
                group.addTask { try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-\(node)")) }
            }
            try await group.waitForAll()
        }
        #expect(server.hits.count == 1)
        #expect(await cache.transfers == 1)
        #expect(scratch.linkCount(scratch.master(Self.abc)) == 5)
    }

    @Test func anHTTPChecksumMismatchStoresNothing() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start(["/disk.raw": .file("not what was promised")])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/disk.raw"
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(
                source: url, checksum: ImageChecksum(algorithm: "sha256", value: Self.abcSHA256), linkAt: scratch.nodeFile("node-1"))
        }
        guard case .checksumMismatch(let source, _, let actual)? = error else {
            Issue.record("expected a checksum mismatch, got \(String(describing: error))")
            return
        }
        #expect(source == url && actual == ImageHashers.sha256(of: "not what was promised"))
        #expect(scratch.cached().isEmpty)
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
    }

    @Test func aServerAnswering404IsAClearError() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start([:])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/missing.img"
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        }
        #expect(error == .downloadFailed(source: url, reason: "HTTP 404 Not Found"))
        #expect(error.map { "\($0)" } == "Failed to download image \(url), reason: HTTP 404 Not Found")
        #expect(scratch.cached().isEmpty, "\(scratch.cached())")
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
    }

    @Test func aServerClosingMidDownloadLeavesNoPartialFile() async throws {
        let scratch = try Scratch()
        let chunk = String(repeating: "x", count: 64 * 1024)
        let server = try await ImageServer.start(["/disk.raw": .truncated(chunk, declared: 1024 * 1024)])
        defer { server.stop() }
        let cache = scratch.cache()
        let url = "\(server.url)/disk.raw"
        let error = await #expect(throws: ImageCacheError.self) {
            try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        }
        guard case .downloadFailed(let source, let reason)? = error else {
            Issue.record("expected a failed download, got \(String(describing: error))")
            return
        }
        #expect(source == url && !reason.isEmpty, "\(reason)")
        #expect(error.map { "\($0)" }?.hasPrefix("Failed to download image \(url), reason: ") == true)
        #expect(scratch.cached().isEmpty, "no partial file: \(scratch.cached())")
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
        #expect(await cache.transfers == 0, "nothing reached the cache")
    }

    @Test func aServerThatIsNotThereIsAClearErrorAtOnce() async throws {
        let scratch = try Scratch()
        let server = try await ImageServer.start([:])
        let url = "\(server.url)/disk.raw"
        await server.stopAndWait()
        let cache = scratch.cache()
        // Watched for 5 s: a refused connection must fail at once, as in Ironic, not be retried
        // until the request's deadline with the node's lock held. The fetch runs in a task of
        // its own (cancelling a fetch does not end a shared download).
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let started = ContinuousClock.now
        Task {
            do {
                try await cache.fetch(source: url, checksum: nil, linkAt: scratch.nodeFile("node-1"))
                outcome.withLock { $0 = .success(()) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
        }
        while outcome.withLock({ $0 }) == nil, ContinuousClock.now - started < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let result = outcome.withLock { $0 }
        #expect(result != nil, "no answer within 5 s from a refused connection")
        switch result {
        case .success?: Issue.record("a download from nowhere succeeded")
        case .failure(let error)?:
            guard case .downloadFailed(let source, _)? = error as? ImageCacheError else {
                Issue.record("expected a failed download, got \(error)")
                return
            }
            #expect(source == url)
        case nil: break
        }
        #expect(scratch.cached().isEmpty)
        #expect(!scratch.exists(scratch.nodeFile("node-1")))
    }

    // MARK: Eviction

    @Test func unlinkedFilesOlderThanTheTTLAreEvicted() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache(ttl: .seconds(3600))
        let old = try scratch.source("old.img", "old image")
        try await cache.fetch(source: old, checksum: nil, linkAt: scratch.nodeFile("node-1"))
        try await cache.fetch(source: try scratch.source("recent.img", "recent image"), checksum: nil, linkAt: scratch.nodeFile("node-2"))
        try await cache.fetch(source: try scratch.source("used.img", "used image"), checksum: nil, linkAt: scratch.nodeFile("node-3"))
        try BootFiles.remove(scratch.nodeFile("node-1"))
        try BootFiles.remove(scratch.nodeFile("node-2"))
        try scratch.age(scratch.master("old image"), by: .seconds(7200))
        try scratch.age(scratch.master("recent image"), by: .seconds(600))
        try scratch.age(scratch.master("used image"), by: .seconds(7200))

        #expect(await cache.cleanUp() == 1)
        #expect(!scratch.exists(scratch.master("old image")))
        #expect(scratch.exists(scratch.master("recent image")), "unused for less than the TTL")
        #expect(scratch.exists(scratch.master("used image")), "a node links to it")
        #expect(scratch.read(scratch.nodeFile("node-3")) == "used image")

        // The evicted source is copied again when asked for.
        let transfers = await cache.transfers
        try await cache.fetch(source: old, checksum: nil, linkAt: scratch.nodeFile("node-4"))
        #expect(await cache.transfers == transfers + 1)
        #expect(scratch.read(scratch.nodeFile("node-4")) == "old image")
    }

    @Test func theLeastRecentlyUsedGoFirstWhenTheCacheIsTooLarge() async throws {
        let scratch = try Scratch()
        // 1 MiB of cache; each image is 800 KiB.
        let cache = scratch.cache(maxSizeMiB: 1, ttl: .seconds(86400))
        let size = 800 * 1024
        let images = ["a", "b", "c"].map { String(repeating: $0, count: size) }
        for (index, image) in images.enumerated() {
            try await cache.fetch(
                source: try scratch.source("\(index).img", image), checksum: nil, linkAt: scratch.nodeFile("node-\(index)"))
        }
        #expect(scratch.cached().count == 3, "linked files are never evicted, however large the cache")
        for index in 0..<2 { try BootFiles.remove(scratch.nodeFile("node-\(index)")) }
        try scratch.age(scratch.master(images[0]), by: .seconds(300))
        try scratch.age(scratch.master(images[1]), by: .seconds(100))

        // 2400 KiB held, 1024 allowed: "a" (least recently used) goes; then 1600 KiB, so "b"
        // goes too; "c" is linked and stays although the cache is still over its size.
        #expect(await cache.cleanUp() == 2)
        #expect(scratch.cached() == [ImageHashers.sha256(of: images[2])])

        // A fetch makes room: with 2 MiB, fetching "a" and "b" again evicts "c", unlinked now.
        let roomy = scratch.cache(maxSizeMiB: 2, ttl: .seconds(86400))
        try BootFiles.remove(scratch.nodeFile("node-2"))
        for index in 0..<2 {
            try await roomy.fetch(
                source: try scratch.source("\(index).img", images[index]), checksum: nil, linkAt: scratch.nodeFile("node-\(index)"))
        }
        #expect(scratch.cached() == [ImageHashers.sha256(of: images[0]), ImageHashers.sha256(of: images[1])].sorted())

        // Both unlinked, "b" the less recently used: fetching "c" again evicts "b" only.
        for index in 0..<2 { try BootFiles.remove(scratch.nodeFile("node-\(index)")) }
        try scratch.age(scratch.master(images[0]), by: .seconds(100))
        try scratch.age(scratch.master(images[1]), by: .seconds(300))
        try await roomy.fetch(source: try scratch.source("2.img", images[2]), checksum: nil, linkAt: scratch.nodeFile("node-2"))
        #expect(scratch.cached() == [ImageHashers.sha256(of: images[0]), ImageHashers.sha256(of: images[2])].sorted())
        #expect(await roomy.cleanUp() == 0, "1600 KiB fit in 2 MiB")
    }

    @Test func unpublishingFreesTheImageForEviction() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache(maxSizeMiB: 0)
        let path = try scratch.source("disk.raw", Self.abc)
        _ = try await cache.publish(source: path, nodeUUID: "node-1", checksum: nil)
        #expect(scratch.cached() == [Self.abcSHA256], "a published image is linked, so kept")
        await cache.unpublish(nodeUUID: "node-1")
        #expect(scratch.cached().isEmpty)
    }

    @Test func abandonedDownloadsAreRemovedAfterAnHour() async throws {
        let scratch = try Scratch()
        let cache = scratch.cache()
        let master = scratch.files.masterDirectory
        try BootFiles.write("partial", to: "\(master)/.download-abandoned")
        try BootFiles.write("partial", to: "\(master)/.download-running")
        try scratch.age("\(master)/.download-abandoned", by: .seconds(7200))
        try BootFiles.write("not a digest", to: "\(master)/README")
        try scratch.age("\(master)/README", by: .seconds(86400 * 30))
        await cache.cleanUp()
        #expect(scratch.cached() == [".download-running", "README"].sorted())
    }
}

// MARK: A file server

/// A small HTTP server on 127.0.0.1 for the cache's downloads: fixed files (with optional
/// validators and delay), and a file whose connection closes mid-body. Unknown paths are 404.
final class ImageServer: Sendable {
    enum Route: Sendable {
        case file(String, etag: String? = nil, lastModified: String? = nil, delay: Duration = .zero)
        /// Declares `declared` bytes, sends `contents`, then closes the connection.
        case truncated(String, declared: Int)
    }

    /// One request received.
    struct Hit: Sendable, Hashable {
        var path: String
        var ifNoneMatch: String?
        var ifModifiedSince: String?
    }

    /// The requests received, oldest first, shared with the responder.
    final class Log: Sendable {
        let hits = Mutex<[Hit]>([])
        func record(_ hit: Hit) { hits.withLock { $0.append(hit) } }
    }

    /// `http://127.0.0.1:PORT`.
    let url: String
    private let log: Log
    private let run: Task<Void, Never>

    private init(url: String, log: Log, run: Task<Void, Never>) {
        self.url = url
        self.log = log
        self.run = run
    }

    /// Every request received, oldest first.
    var hits: [Hit] { log.hits.withLock { $0 } }

    /// Starts a server answering `routes` (path → what to send) on a free port.
    static func start(_ routes: [String: Route]) async throws -> ImageServer {
        let log = Log()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "image-server")
        logger.logLevel = .critical
        let app = Application(
            responder: ImageServerResponder(routes: routes, log: log), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let run = Task {
            try? await app.run()
            continuation.finish()
        }
        for await port in ports where port > 0 {
            return ImageServer(url: "http://127.0.0.1:\(port)", log: log, run: run)
        }
        throw POSIXError(.EADDRNOTAVAIL)
    }

    /// Stops the server without waiting (for `defer`).
    func stop() { run.cancel() }

    /// Stops the server and waits until it no longer listens.
    func stopAndWait() async {
        run.cancel()
        await run.value
    }
}

struct ImageServerResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let routes: [String: ImageServer.Route]
    let log: ImageServer.Log

    struct Hangup: Error {}

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        log.record(.init(path: path, ifNoneMatch: request.headers[.ifNoneMatch], ifModifiedSince: request.headers[.ifModifiedSince]))
        switch routes[path] {
        case nil:
            return Response(status: .notFound)
        case .file(let contents, let etag, let lastModified, let delay)?:
            if delay > .zero { try await Task.sleep(for: delay) }
            var headers = HTTPFields()
            if let etag { headers[.eTag] = etag }
            if let lastModified { headers[.lastModified] = lastModified }
            if let etag, request.headers[.ifNoneMatch] == etag {
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: contents)))
        case .truncated(let contents, let declared)?:
            // The body writer failing makes the server close the connection mid-body.
            return Response(
                status: .ok,
                body: ResponseBody(contentLength: declared) { writer in
                    try await writer.write(ByteBuffer(string: contents))
                    throw Hangup()
                })
        }
    }
}
