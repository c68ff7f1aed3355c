import AgentDrivers
import Core
import Foundation
import IronicTesting
import Logging
import Testing

/// `AgentClient` against a stand-in for ironic-python-agent's REST API on loopback.
@Suite("Agent client", .timeLimit(.minutes(1)))
struct AgentClientTests {
    static let token = "stand-in-token-0123456789abcdefghijklmnop"

    /// A task for a node whose ramdisk heartbeated from `url` and holds `token`.
    static func task(url: String, token: String? = token) -> NodeTask {
        var node = Node(driver: "fake-hardware")
        node.driverInternalInfo["agent_url"] = .string(url)
        if let token { node.driverInternalInfo["agent_secret_token"] = .string(token) }
        return NodeTask(node: node, conductor: "agent-client-test", isShared: false, logger: Logger(label: "agent-client-test"))
    }

    static func client(timeout: Duration = .seconds(10)) -> AgentClient {
        AgentClient(timeout: timeout, logger: Logger(label: "agent-client-test"))
    }

    /// Runs `body` against a started agent expecting `token`, and stops the agent afterwards.
    static func withAgent(token: String? = token, _ body: (StandInAgent) async throws -> Void) async throws {
        let agent = try await StandInAgent.start(token: token)
        do {
            try await body(agent)
        } catch {
            await agent.stop()
            throw error
        }
        await agent.stop()
    }

    @Test func everyCallCarriesTheNodesToken() async throws {
        try await Self.withAgent { agent in
            agent.answer("prepare_image", with: .hold)
            let task = Self.task(url: agent.url)
            let client = Self.client()

            let sync = try await client.run("standby.sync", params: [:], wait: true, task: task)
            #expect(sync.name == "sync" && sync.status == .succeeded)
            let image: JSONValue = ["id": "image.raw", "urls": ["http://127.0.0.1:9/image.raw"]]
            let started = try await client.run("standby.prepare_image", params: ["image_info": image], wait: false, task: task)
            #expect(started.name == "prepare_image" && started.status == .running)
            let running = try await client.commands(task)
            #expect(running.map(\.name) == ["sync", "prepare_image"])
            #expect(running.map(\.status) == [.succeeded, .running])

            try agent.finish("prepare_image", result: ["result": "prepare_image: image written"])
            let done = try await client.commands(task)
            #expect(done.last?.status == .succeeded)
            #expect(done.last?.result == ["result": "prepare_image: image written"])

            let calls = agent.calls
            #expect(calls.map(\.method) == ["POST", "POST", "GET", "GET"])
            #expect(calls.allSatisfy { $0.token == Self.token }, "token on every call: \(calls.map(\.token))")
            #expect(calls.compactMap(\.command) == ["standby.sync", "standby.prepare_image"])
            #expect(calls.filter { $0.method == "POST" }.map(\.wait) == [true, false])
            #expect(calls[1].params["image_info"] == image)
        }
    }

    @Test func aWrongOrMissingTokenIsRefused() async throws {
        try await Self.withAgent { agent in
            let client = Self.client()
            for token in ["not-the-token", nil] {
                let error = await #expect(throws: AgentError.self) {
                    _ = try await client.run("standby.sync", params: [:], wait: true, task: Self.task(url: agent.url, token: token))
                }
                guard case .refused(let status, let message) = error else {
                    Issue.record("expected a refusal, got \(String(describing: error))")
                    continue
                }
                #expect(status == 401)
                #expect(message == "401 Unauthorized: Token invalid.", "IPA's faultstring, not its raw JSON: \(message)")
            }
            let listing = await #expect(throws: AgentError.self) {
                _ = try await client.commands(Self.task(url: agent.url, token: "not-the-token"))
            }
            guard case .refused(401, _) = listing else {
                Issue.record("expected a 401 for the listing, got \(String(describing: listing))")
                return
            }
            #expect(agent.commandNames.isEmpty, "the agent ran nothing")
            #expect(agent.calls.map(\.status) == [401, 401, 401])
        }
    }

    @Test func aFailedCommandSurfacesTheAgentsError() async throws {
        try await Self.withAgent { agent in
            let task = Self.task(url: agent.url)
            let client = Self.client()
            agent.answer(
                "standby.prepare_image",
                with: .fail(message: "Error writing image to device", details: "No space left on device", type: "ImageWriteError"))
            let failed = try await client.run("standby.prepare_image", params: [:], wait: false, task: task)
            #expect(failed.status == .failed)
            #expect(failed.error == "Error writing image to device: No space left on device")

            // A long command that fails later: its failure shows in the listing.
            agent.answer("execute_deploy_step", with: .hold)
            let running = try await client.run("deploy.execute_deploy_step", params: [:], wait: false, task: task)
            #expect(running.status == .running && running.error == nil)
            try agent.fail("execute_deploy_step", message: "Deploy step failed", details: "the hardware manager raised")
            let listed = try await client.commands(task).last
            #expect(listed?.name == "execute_deploy_step")
            #expect(listed?.status == .failed)
            #expect(listed?.error == "Deploy step failed: the hardware manager raised")
        }
    }

    @Test func anAgentThatNeverAnswersFailsWithinTheTimeout() async throws {
        try await Self.withAgent { agent in
            agent.answer("sync", with: .silent)
            let client = Self.client(timeout: .seconds(2))
            let started = ContinuousClock.now
            let error = await #expect(throws: AgentError.self) {
                _ = try await client.run("standby.sync", params: [:], wait: true, task: Self.task(url: agent.url))
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(6), "gave up after \(elapsed), the timeout being 2 s")
            guard case .unreachable(let message) = error else {
                Issue.record("expected unreachable, got \(String(describing: error))")
                return
            }
            #expect(message.contains("standby.sync"), "\(message)")
            #expect(agent.calls.count == 1 && agent.calls[0].status == nil, "the call reached the agent, which never answered")
        }
    }

    /// Connection refused: the HTTP client keeps retrying the connection until the call's
    /// timeout, then the call fails saying so.
    @Test func aStoppedAgentIsUnreachable() async throws {
        let agent = try await StandInAgent.start(token: Self.token)
        let task = Self.task(url: agent.url)
        await agent.stop()
        let started = ContinuousClock.now
        let error = await #expect(throws: AgentError.self) {
            _ = try await Self.client(timeout: .seconds(2)).commands(task)
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(6), "gave up after \(elapsed), the timeout being 2 s")
        guard case .unreachable(let message) = error else {
            Issue.record("expected unreachable, got \(String(describing: error))")
            return
        }
        #expect(message.contains("Connection refused"), "\(message)")
    }

    @Test func aNonJSONAnswerIsABadReply() async throws {
        try await Self.withAgent { agent in
            agent.answer("sync", with: .notJSON("<html><body>502 Bad Gateway</body></html>"))
            let error = await #expect(throws: AgentError.self) {
                _ = try await Self.client().run("standby.sync", params: [:], wait: true, task: Self.task(url: agent.url))
            }
            guard case .badReply(let message) = error else {
                Issue.record("expected a bad reply, got \(String(describing: error))")
                return
            }
            #expect(message.contains("sync") && message.contains("502 Bad Gateway"), "\(message)")
        }
    }

    @Test func aNodeWithoutAgentURLIsNotCalled() async throws {
        let task = NodeTask(
            node: Node(driver: "fake-hardware"), conductor: "agent-client-test", isShared: false, logger: Logger(label: "t"))
        let error = await #expect(throws: AgentError.self) {
            _ = try await Self.client().commands(task)
        }
        guard case .noAgent(let message) = error else {
            Issue.record("expected noAgent, got \(String(describing: error))")
            return
        }
        #expect(message.contains("agent_url"))
    }
}
