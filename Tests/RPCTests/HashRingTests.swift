import Testing

@testable import RPC

@Suite("Hash ring")
struct HashRingTests {
    let keys = (0..<3000).map { "node-\($0)" }

    @Test func emptyRingOwnsNothing() {
        #expect(HashRing(hosts: []).host(for: "x") == nil)
    }

    @Test func sameHostsSameAnswerWhateverTheOrder() {
        let a = HashRing(hosts: ["c1", "c2", "c3"])
        let b = HashRing(hosts: ["c3", "c1", "c2", "c1"])
        #expect(keys.allSatisfy { a.host(for: $0) == b.host(for: $0) })
        #expect(b.hosts == ["c1", "c2", "c3"])
    }

    @Test func theHashIsStableAcrossProcesses() {
        // Pinned values (FNV-1a 64 + SplitMix64, computed independently): API and conductor
        // processes of different builds and versions must agree.
        #expect(HashRing.hash("") == 0xf52a_15e9_a9b5_e89b)
        #expect(HashRing.hash("c1-0") == 0xd6a3_f0af_38de_c146)
    }

    @Test func keysSpreadEvenly() {
        let ring = HashRing(hosts: ["c1", "c2", "c3"])
        let counts = Dictionary(grouping: keys, by: { ring.host(for: $0)! }).mapValues(\.count)
        #expect(counts.count == 3)
        for (host, count) in counts {
            #expect((600...1400).contains(count), "\(host) owns \(count) of 3000")
        }
    }

    @Test func aJoiningHostTakesOnlyItsShare() {
        let before = HashRing(hosts: ["c1", "c2", "c3"])
        let after = HashRing(hosts: ["c1", "c2", "c3", "c4"])
        let moved = keys.filter { before.host(for: $0) != after.host(for: $0) }
        #expect(moved.allSatisfy { after.host(for: $0) == "c4" }, "keys only move to the new host")
        #expect((400...1200).contains(moved.count), "about a quarter moves: \(moved.count)")
    }

    @Test func aLeavingHostGivesUpOnlyItsOwnKeys() {
        let before = HashRing(hosts: ["c1", "c2", "c3"])
        let after = HashRing(hosts: ["c1", "c3"])
        for key in keys where before.host(for: key) != "c2" {
            #expect(after.host(for: key) == before.host(for: key))
        }
    }
}
