import ConsoleProxy
import Foundation
import Synchronization
import Testing

@Suite struct ConsoleHubTests {
    @Test func ringBufferKeepsTheNewestBytes() {
        var log = ConsoleLog(capacity: 8)
        log.append(Array("abcdef".utf8))
        #expect(log.contents == Array("abcdef".utf8))
        log.append(Array("ghij".utf8))
        #expect(String(decoding: log.contents, as: UTF8.self) == "cdefghij")
        log.append(Array("0123456789".utf8))
        #expect(String(decoding: log.contents, as: UTF8.self) == "23456789")
        #expect(log.totalBytes == 20)
        #expect(String(decoding: log.tail(3), as: UTF8.self) == "789")
    }

    @Test func oneWriterAtATimeAndSlowViewersAreDropped() {
        let sent = Mutex<[UInt8]>([])
        let hub = ConsoleHub(logSize: 1024, writerIdleTimeout: .seconds(60)) { bytes in sent.withLock { $0 += bytes } }
        let received = Mutex<[Int: String]>([:])
        let closed = Mutex<Set<Int>>([])
        func viewer(_ tag: Int, accepts: Bool = true) -> ConsoleHub.Viewer {
            ConsoleHub.Viewer(
                kind: "test",
                send: { bytes in
                    received.withLock { $0[tag, default: ""] += String(decoding: bytes, as: UTF8.self) }
                    return accepts
                },
                close: { _ in _ = closed.withLock { $0.insert(tag) } })
        }
        let a = hub.attach(viewer(1), replay: false).id
        let b = hub.attach(viewer(2), replay: false).id
        let slow = hub.attach(viewer(3, accepts: false), replay: false).id
        hub.output(Array("boot\r\n".utf8))
        #expect(received.withLock { $0[1] } == "boot\r\n")
        #expect(received.withLock { $0[2] } == "boot\r\n")
        #expect(closed.withLock { $0 } == [3], "the slow viewer is detached")
        #expect(hub.stats.clients == 2)
        _ = slow

        #expect(hub.input(Array("ls".utf8), from: a))
        #expect(!hub.input(Array("rm".utf8), from: b), "b is read-only while a holds the seat")
        #expect(received.withLock { $0[2] }?.contains("read-only") == true)
        #expect(sent.withLock { $0 } == Array("ls".utf8))
        // An idle writer loses the seat.
        #expect(hub.input(Array("x".utf8), from: b, now: .now + .seconds(61)))
        hub.detach(b)
        #expect(hub.input(Array("y".utf8), from: a))
        #expect(hub.stats.bytesOut == 4 && hub.stats.bytesIn == 6)

        let late = hub.attach(viewer(4), replay: true)
        #expect(String(decoding: late.replay, as: UTF8.self) == "boot\r\n", "new web viewers get the log first")
    }
}
