import AnsibleDrivers
import Core
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The runner end to end with the real ansible-playbook: batching, caps, timeouts.
@Suite("Ansible runner")
struct AnsibleRunnerTests {
    @Test func jobsWithinTheWindowRunAsOneProcessWithPerHostOutcomes() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .seconds(1)), logger: .tests)
        let image: [String: JSONValue] = ["image": ["url": "http://images/a.img"]]
        for name in ["a", "b", "c"] { try await runner.submit(lab.job(name, variables: image)) }
        #expect(await runner.status(nodeUUID: "a", awaited: "ansible:deploy")?.status == .running, "queued counts as running")
        for name in ["a", "b", "c"] { await runner.wait(nodeUUID: name, awaited: "ansible:deploy") }

        let runs = await runner.history()
        #expect(runs.count == 1, "three jobs within the window, one process: \(runs.map(\.nodes))")
        let run = try #require(runs.first)
        #expect(run.nodes == ["a", "b", "c"])
        #expect(run.arguments.contains("--forks=3"))
        #expect(run.exitStatus == 2)
        let log = try String(contentsOfFile: run.logPath, encoding: .utf8)
        #expect(log.contains("PLAY RECAP"))

        let a = await runner.status(nodeUUID: "a", awaited: "ansible:deploy")
        let b = await runner.status(nodeUUID: "b", awaited: "ansible:deploy")
        let c = await runner.status(nodeUUID: "c", awaited: "ansible:deploy")
        #expect(a?.status == .succeeded, "\(log)")
        #expect(c?.status == .succeeded)
        #expect(b?.status == .failed)
        #expect(b?.error == "Ansible task 'Write the image' failed on node: disk on fire on b", "\(log)")
        #expect(await runner.status(nodeUUID: "a", awaited: "ansible:deploy") == nil, "an outcome is handed out once")
        #expect(await runner.status(nodeUUID: "b", awaited: "ansible:clean:x") == nil, "other work has no record")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "\(lab.directory)/tmp")) ?? []
        #expect(leftovers.isEmpty, "the extra-vars file is removed after the run: \(leftovers)")
    }

    @Test func aJobWithAnotherBatchKeyGetsAProcessOfItsOwn() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .seconds(1)), logger: .tests)
        try await runner.submit(lab.job("a", variables: ["image": ["url": "http://images/one.img"]]))
        try await runner.submit(lab.job("c", variables: ["image": ["url": "http://images/one.img"]]))
        try await runner.submit(lab.job("x", variables: ["image": ["url": "http://images/two.img"]]))
        for name in ["a", "c", "x"] { await runner.wait(nodeUUID: name, awaited: "ansible:deploy") }
        let runs = await runner.history()
        #expect(runs.count == 2)
        #expect(Set(runs.map(\.nodes)) == [["a", "c"], ["x"]])
        for name in ["a", "c", "x"] {
            #expect(await runner.status(nodeUUID: name, awaited: "ansible:deploy")?.status == .succeeded)
        }
    }

    @Test func theProcessCapMakesLaterRunsWait() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .zero, processes: 1), logger: .tests)
        for (index, name) in ["a", "c", "x"].enumerated() {
            try await runner.submit(lab.job(name, playbook: "slow.yaml", variables: ["n": .int(index)]))
        }
        for name in ["a", "c", "x"] { await runner.wait(nodeUUID: name, awaited: "ansible:deploy") }
        let runs = await runner.history().sorted { $0.id < $1.id }
        #expect(runs.count == 3)
        for (earlier, later) in zip(runs, runs.dropFirst()) {
            let ended = try #require(earlier.ended)
            #expect(later.started >= ended, "run \(later.id) started before run \(earlier.id) ended")
        }
        for name in ["a", "c", "x"] {
            #expect(await runner.status(nodeUUID: name, awaited: "ansible:deploy")?.status == .succeeded)
        }
    }

    @Test func aRunServesAtMostMaxHostsPerPlaybook() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .milliseconds(500), hosts: 2), logger: .tests)
        for name in ["a", "c", "x"] { try await runner.submit(lab.job(name)) }
        for name in ["a", "c", "x"] { await runner.wait(nodeUUID: name, awaited: "ansible:deploy") }
        let runs = await runner.history().sorted { $0.id < $1.id }
        #expect(runs.map(\.nodes) == [["a", "c"], ["x"]])
        #expect(runs.first?.arguments.contains("--forks=2") == true)
    }

    @Test func aHangingPlaybookIsKilledAtTheTimeoutAndItsHostsFail() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .zero, timeout: .seconds(3)), logger: .tests)
        let started = ContinuousClock.now
        try await runner.submit(lab.job("a", playbook: "hang.yaml"))
        try await runner.submit(lab.job("c", playbook: "hang.yaml"))
        await runner.wait(nodeUUID: "a", awaited: "ansible:deploy")
        await runner.wait(nodeUUID: "c", awaited: "ansible:deploy")
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(20), "killed at the timeout, not at the pause's end: \(elapsed)")

        let run = try #require(await runner.history().first)
        #expect(run.timedOut)
        for name in ["a", "c"] {
            let status = await runner.status(nodeUUID: name, awaited: "ansible:deploy")
            #expect(status?.status == .failed)
            #expect(
                status?.error?.hasPrefix("The hang.yaml playbook did not end within [ansible] playbook_timeout (3 s) and was killed.")
                    == true,
                "\(status?.error ?? "")")
        }
        let pid = try #require(run.pid)
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "ansible-playbook is gone")
        #expect(kill(-pid, 0) == -1 && errno == ESRCH, "and so are its workers")
    }

    @Test func terminateAllEndsRunningPlaybooks() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .zero), logger: .tests)
        try await runner.submit(lab.job("a", playbook: "hang.yaml"))
        let deadline = ContinuousClock.now + .seconds(30)
        while await runner.history().first?.pid == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .seconds(1))
        await runner.terminateAll()
        await runner.wait(nodeUUID: "a", awaited: "ansible:deploy")
        let status = await runner.status(nodeUUID: "a", awaited: "ansible:deploy")
        #expect(status?.status == .failed)
        #expect(status?.error?.contains("without reporting on the node") == true, "\(status?.error ?? "")")
        let pid = try #require(await runner.history().first?.pid)
        #expect(kill(-pid, 0) == -1 && errno == ESRCH)
    }

    @Test func aRunThatCannotStartFailsItsHostsWithTheReason() async throws {
        let lab = try PlaybookLab()
        var settings = try lab.settings(window: .zero)
        settings.ansiblePlaybookScript = "\(lab.directory)/no-such-ansible-playbook"
        let runner = AnsibleRunner(settings: settings, logger: .tests)
        try await runner.submit(lab.job("a"))
        await runner.wait(nodeUUID: "a", awaited: "ansible:deploy")
        let status = await runner.status(nodeUUID: "a", awaited: "ansible:deploy")
        #expect(status?.status == .failed)
        #expect(
            status?.error?.contains("Could not start \(lab.directory)/no-such-ansible-playbook for deploy.yaml") == true,
            "\(status?.error ?? "")")
    }

    @Test func aMissingPlaybookFailsItsHostsWithTheTailOfTheOutput() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .zero), logger: .tests)
        try await runner.submit(lab.job("a", playbook: "nowhere.yaml"))
        await runner.wait(nodeUUID: "a", awaited: "ansible:deploy")
        let status = await runner.status(nodeUUID: "a", awaited: "ansible:deploy")
        #expect(status?.status == .failed)
        let error = status?.error ?? ""
        #expect(error.contains("without reporting on the node"), "\(error)")
        #expect(error.contains("nowhere.yaml"), "\(error)")
    }

    @Test func aQueuedJobIsReplacedButARunningOneIsNot() async throws {
        let lab = try PlaybookLab()
        let runner = AnsibleRunner(settings: try lab.settings(window: .seconds(30)), logger: .tests)
        try await runner.submit(lab.job("a", awaited: "ansible:deploy"))
        try await runner.submit(lab.job("a", playbook: "slow.yaml", awaited: "ansible:shutdown"))
        #expect(await runner.status(nodeUUID: "a", awaited: "ansible:deploy") == nil, "the first job was replaced")
        await runner.forget(nodeUUID: "a")
        #expect(await runner.status(nodeUUID: "a", awaited: "ansible:shutdown") == nil)

        let quick = AnsibleRunner(settings: try lab.settings(window: .zero), logger: .tests)
        try await quick.submit(lab.job("a", playbook: "slow.yaml"))
        try await Task.sleep(for: .milliseconds(200))
        await #expect(throws: IronicError.self) { try await quick.submit(lab.job("a")) }
        await quick.wait(nodeUUID: "a", awaited: "ansible:deploy")
        #expect(await quick.status(nodeUUID: "a", awaited: "ansible:deploy")?.status == .succeeded)
    }
}
