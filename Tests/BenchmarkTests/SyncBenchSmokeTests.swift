import ChildProcesses
import Foundation
import IronicTesting
import Testing

/// `make bench`'s power-sync benchmark, run small (3 lab BMCs, one pass per phase), so a change
/// that breaks it fails here instead of at the next benchmark run. Only what the run measured
/// is checked (every node checked, the frozen BMC the only one missed), never a time or a ratio:
/// those belong to the benchmark's own figures.
@Suite struct SyncBenchSmokeTests {
    @Test func aSmallRunMeasuresEveryNodeHealthyAndAllButTheFrozenOne() async throws {
        let executable = try Cluster.binaryDirectory().appendingPathComponent("ironic-bench-sync").path
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-sync-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let (status, output) = try await ChildProcess.run(
            executable,
            ["--nodes", "3", "--passes", "1", "--compare-workers", "", "--session-timeout", "1", "--json", json.path],
            timeout: .seconds(120))
        #expect(status == 0, "\(output)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any], "\(output)")

        #expect(figures["nodes"] as? Int == 3)
        let healthy = try #require(figures["healthy"] as? [[String: Any]])
        #expect(healthy.map { $0["tool"] as? String } == ["ipmipower", "sync"])
        #expect(healthy.allSatisfy { ($0["median"] as? Double ?? 0) > 0 }, "\(healthy)")
        #expect((figures["goal_ratio"] as? Double ?? 0) > 0)
        #expect(figures["frozen_ipmipower_power_lines"] as? [Int] == [2], "ipmipower answered for both healthy BMCs")
        #expect((figures["frozen_checked"] as? [String: [Int]])?.values.first == [2], "the sync pass checked both healthy nodes")
        #expect(output.contains("after thaw, pass 1:") && output.contains("checked 3, failed 0"), "\(output)")
    }
}
