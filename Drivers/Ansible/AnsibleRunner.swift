import ChildProcesses
import Core
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One node's request to run a playbook: what it runs and the node's entry in `ironic.nodes`.
public struct AnsibleJob: Sendable {
    /// The node.
    public var nodeUUID: String
    /// The name the deploy interface waits on (`ansible:deploy`), as `agent_awaited` holds it.
    public var awaited: String
    /// The directory of the playbook and of its `inventory`.
    public var playbooksPath: String
    /// The playbook's file name in `playbooksPath`.
    public var playbook: String
    /// The SSH user.
    public var user: String
    /// `--private-key`, if any.
    public var keyFile: String?
    /// `ansible_python_interpreter`, if any.
    public var pythonInterpreter: String?
    /// `--tags`, if any.
    public var tags: [String]
    /// The node's entry in `ironic.nodes` (``AnsibleExtraVars/host(uuid:ip:user:extra:port:)``).
    public var host: JSONValue
    /// Every `ironic.*` variable but `nodes`.
    public var variables: [String: JSONValue]
    /// Files written for this job (a config drive), removed once its run ended.
    public var temporaryFiles: [String]

    /// Creates a job.
    public init(
        nodeUUID: String, awaited: String, playbooksPath: String, playbook: String, user: String, keyFile: String? = nil,
        pythonInterpreter: String? = nil, tags: [String] = [], host: JSONValue, variables: [String: JSONValue] = [:],
        temporaryFiles: [String] = []
    ) {
        self.nodeUUID = nodeUUID
        self.awaited = awaited
        self.playbooksPath = playbooksPath
        self.playbook = playbook
        self.user = user
        self.keyFile = keyFile
        self.pythonInterpreter = pythonInterpreter
        self.tags = tags
        self.host = host
        self.variables = variables
        self.temporaryFiles = temporaryFiles
    }

    /// Jobs with equal keys can share one `ansible-playbook`: everything on its command line
    /// and in its extra variables except the list of hosts.
    public var batchKey: String {
        JSONValue.object([
            "playbooks_path": .string(playbooksPath), "playbook": .string(playbook), "user": .string(user),
            "key_file": keyFile.map(JSONValue.string) ?? .null,
            "python_interpreter": pythonInterpreter.map(JSONValue.string) ?? .null,
            "tags": .array(tags.map(JSONValue.string)), "variables": .object(variables),
        ]).serialized()
    }
}

/// Runs playbooks for many nodes as few `ansible-playbook` processes (one runner per
/// conductor process).
///
/// Jobs with the same ``AnsibleJob/batchKey`` that arrive within `[ansible] batch_window` of
/// the first one run as ONE `ansible-playbook` with all their hosts in `ironic.nodes`; a batch
/// that still waits for a process slot keeps taking such jobs. At most `[ansible]
/// max_playbook_processes` processes run at once and each serves at most `[ansible]
/// max_hosts_per_playbook` hosts, with `--forks` = its hosts up to `[ansible] forks`.
///
/// No thread waits for a process: the child writes straight into the run's log file under
/// `[ansible] playbook_log_dir`, and a task polls its exit status with `Task.sleep`, killing
/// its process group once `[ansible] playbook_timeout` has passed. The log is then read for
/// each host's outcome (``AnsiblePlaybookOutput``), kept here per node until the deploy
/// interface reads it. Nothing survives the process: a conductor that restarts has no record,
/// and the node's step fails as having an unknown outcome.
///
/// ```swift
/// let runner = AnsibleRunner(settings: config.ansible, logger: logger)
/// try await runner.submit(job)                       // returns at once
/// await runner.wait(nodeUUID: job.nodeUUID, awaited: job.awaited)
/// let outcome = await runner.status(nodeUUID: job.nodeUUID, awaited: job.awaited)  // .succeeded, or .failed with the reason
/// ```
public actor AnsibleRunner {
    /// One `ansible-playbook` process, for introspection and tests.
    public struct Run: Sendable {
        /// Counts runs from 1 in this process.
        public var id: Int
        /// The playbook's path.
        public var playbook: String
        /// The nodes it served, in `ironic.nodes` order.
        public var nodes: [String]
        /// The arguments after the script.
        public var arguments: [String]
        /// The file its output went to.
        public var logPath: String
        /// The process's PID (also its process group's), once started.
        public var pid: Int32?
        /// When the runner began preparing it.
        public var started: ContinuousClock.Instant
        /// When its outcome was read; nil while it runs.
        public var ended: ContinuousClock.Instant?
        /// Its exit status (128 + signal when a signal ended it); nil while it runs or when it
        /// could not start.
        public var exitStatus: Int32?
        /// Whether it was killed at `[ansible] playbook_timeout`.
        public var timedOut = false
    }

    private enum BatchState { case collecting, ready, running }

    private struct Batch {
        let id: Int
        let key: String
        var nodes: [String]
        var state: BatchState
    }

    private struct Entry {
        var job: AnsibleJob
        var batch: Int?
        var result: AgentCommandStatus?
        var finishedAt: ContinuousClock.Instant?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let settings: AnsibleConfig
    private let logger: Logger
    private var batches: [Int: Batch] = [:]
    private var readyOrder: [Int] = []
    private var running = 0
    private var entries: [String: Entry] = [:]
    private var nextBatch = 0
    private var nextRun = 0
    private var runs: [Run] = []

    /// How long an unread outcome is kept (the node moved on without reading it).
    static let unreadResultLifetime: Duration = .seconds(24 * 3600)

    /// Creates a runner over `[ansible]` settings.
    public init(settings: AnsibleConfig, logger: Logger = Logger(label: "ironic.ansible")) {
        self.settings = settings
        self.logger = logger
    }

    // MARK: Jobs

    /// Queues `job`; its playbook starts once its batch window has passed and a process slot is
    /// free. A job of the node still queued is replaced.
    ///
    /// - Throws: `NodeLocked` (409) when a playbook of the node is running.
    public func submit(_ job: AnsibleJob) throws(IronicError) {
        pruneUnread()
        if let existing = entries[job.nodeUUID], existing.result == nil {
            if let id = existing.batch, batches[id]?.state == .running {
                throw IronicError(
                    status: 409, code: "NodeLocked",
                    message: "A playbook (\(existing.job.awaited)) still runs on node \(job.nodeUUID); try again once it has ended.")
            }
            drop(job.nodeUUID, reason: "replaced by \(job.awaited)", keeping: Set(job.temporaryFiles))
        }
        let key = job.batchKey
        let open = batches.values.filter { $0.key == key && $0.state != .running && $0.nodes.count < settings.maxHostsPerPlaybook }
        let id: Int
        if let batch = open.min(by: { $0.id < $1.id }) {
            id = batch.id
        } else {
            nextBatch += 1
            id = nextBatch
            batches[id] = Batch(id: id, key: key, nodes: [], state: .collecting)
            if settings.batchWindow > .zero {
                let window = settings.batchWindow
                Task { [weak self] in
                    try? await Task.sleep(for: window)
                    await self?.windowClosed(id)
                }
            } else {
                markReady(id)
            }
        }
        batches[id]!.nodes.append(job.nodeUUID)
        entries[job.nodeUUID] = Entry(job: job, batch: id)
        if batches[id]!.nodes.count >= settings.maxHostsPerPlaybook { markReady(id) }
        logger.debug(
            "queued \(job.playbook) for node",
            metadata: ["node": "\(job.nodeUUID)", "batch": "\(id)", "hosts": "\(batches[id]!.nodes.count)"])
        startReady()
    }

    /// How the node's job named `awaited` stands: running while queued or running, its
    /// outcome once ended (handed out once, then forgotten), nil when there is no such job.
    public func status(nodeUUID: String, awaited: String) -> AgentCommandStatus? {
        guard let entry = entries[nodeUUID], entry.job.awaited == awaited else { return nil }
        guard let result = entry.result else { return AgentCommandStatus(name: awaited, status: .running) }
        entries[nodeUUID] = nil
        return result
    }

    /// Returns once the node's job named `awaited` has ended (at once when there is none),
    /// suspending without holding a thread.
    public func wait(nodeUUID: String, awaited: String) async {
        guard let entry = entries[nodeUUID], entry.job.awaited == awaited, entry.result == nil else { return }
        await withCheckedContinuation { continuation in
            entries[nodeUUID]!.waiters.append(continuation)
        }
    }

    /// Drops what the runner holds for the node: a queued job (with its files) or an unread
    /// outcome. A running playbook runs on; its outcome is kept as usual.
    public func forget(nodeUUID: String) {
        guard let entry = entries[nodeUUID] else { return }
        if entry.result != nil {
            entries[nodeUUID] = nil
        } else if let id = entry.batch, batches[id]?.state != .running {
            drop(nodeUUID, reason: "forgotten")
        }
    }

    /// The runs of this process, oldest first (the last 100).
    public func history() -> [Run] { runs }

    /// Ends every running `ansible-playbook` (SIGTERM to its process group, SIGKILL 5 s
    /// later), for a service that shuts down: the processes run in groups of their own and
    /// would otherwise outlive it. Their nodes fail as for a crashed run; queued jobs stay queued.
    public func terminateAll() {
        for pid in runs.filter({ $0.ended == nil }).compactMap(\.pid) {
            _ = kill(-pid, SIGTERM)
            Task {
                try? await Task.sleep(for: .seconds(5))
                // Only a group whose run has not ended: its number may be another's by now.
                if runs.contains(where: { $0.pid == pid && $0.ended == nil }) { _ = kill(-pid, SIGKILL) }
            }
        }
    }

    // MARK: Scheduling

    private func windowClosed(_ id: Int) {
        guard batches[id]?.state == .collecting else { return }
        markReady(id)
        startReady()
    }

    private func markReady(_ id: Int) {
        guard batches[id]?.state == .collecting else { return }
        batches[id]!.state = .ready
        readyOrder.append(id)
    }

    private func startReady() {
        while running < settings.maxPlaybookProcesses, !readyOrder.isEmpty {
            let id = readyOrder.removeFirst()
            guard var batch = batches[id], batch.state == .ready else { continue }
            guard !batch.nodes.isEmpty else {
                batches[id] = nil
                continue
            }
            batch.state = .running
            batches[id] = batch
            running += 1
            let jobs = batch.nodes.compactMap { entries[$0]?.job }
            nextRun += 1
            let runID = nextRun
            let settings = settings
            let logger = logger
            Task {
                let (run, results) = await Self.execute(jobs, runID: runID, settings: settings, logger: logger) { run in
                    await self.record(run)
                }
                self.finished(id, run: run, results: results)
            }
        }
    }

    /// A job leaves its batch without running; whoever waits for it is let go.
    private func drop(_ node: String, reason: String, keeping: Set<String> = []) {
        guard let entry = entries.removeValue(forKey: node) else { return }
        if let id = entry.batch {
            batches[id]?.nodes.removeAll { $0 == node }
            if batches[id]?.nodes.isEmpty == true, batches[id]?.state != .running {
                batches[id] = nil
                readyOrder.removeAll { $0 == id }
            }
        }
        for path in entry.job.temporaryFiles where !keeping.contains(path) { try? FileManager.default.removeItem(atPath: path) }
        entry.waiters.forEach { $0.resume() }
        logger.debug("dropped queued \(entry.job.awaited): \(reason)", metadata: ["node": "\(node)"])
    }

    private func record(_ run: Run) {
        if let index = runs.firstIndex(where: { $0.id == run.id }) {
            runs[index] = run
        } else {
            runs.append(run)
            if runs.count > 100 { runs.removeFirst(runs.count - 100) }
        }
    }

    private func finished(_ id: Int, run: Run, results: [String: AgentCommandStatus]) {
        record(run)
        let nodes = batches.removeValue(forKey: id)?.nodes ?? []
        running -= 1
        let now = ContinuousClock.now
        for node in nodes {
            guard var entry = entries[node], entry.batch == id else { continue }
            entry.result =
                results[node] ?? AgentCommandStatus(name: entry.job.awaited, status: .failed, error: "No outcome for node \(node).")
            entry.finishedAt = now
            let waiters = entry.waiters
            entry.waiters = []
            entries[node] = entry
            waiters.forEach { $0.resume() }
        }
        startReady()
    }

    private func pruneUnread() {
        let now = ContinuousClock.now
        for (node, entry) in entries {
            if let finished = entry.finishedAt, now - finished > Self.unreadResultLifetime { entries[node] = nil }
        }
    }

    // MARK: One process

    /// Runs one `ansible-playbook` for `jobs` (equal batch keys) and reads each node's outcome.
    private static func execute(
        _ jobs: [AnsibleJob], runID: Int, settings: AnsibleConfig, logger: Logger,
        started: @Sendable (Run) async -> Void
    ) async -> (Run, [String: AgentCommandStatus]) {
        let first = jobs[0]
        let fileManager = FileManager.default
        let playbookPath = (first.playbooksPath as NSString).appendingPathComponent(first.playbook)
        let stamp = Self.timestamp()
        let logPath = (settings.playbookLogDirectory as NSString).appendingPathComponent(
            "\(stamp)-\((first.playbook as NSString).deletingPathExtension)-\(getpid())-\(runID).log")
        let varsPath = (settings.temporaryDirectory as NSString).appendingPathComponent("ironic-ansible-\(getpid())-\(runID).json")
        var temporaryFiles = jobs.flatMap(\.temporaryFiles)
        temporaryFiles.append(varsPath)
        defer { for path in temporaryFiles { try? fileManager.removeItem(atPath: path) } }

        let forks = max(1, min(jobs.count, settings.forks))
        var arguments = [playbookPath, "-i", (first.playbooksPath as NSString).appendingPathComponent("inventory"), "-e", "@\(varsPath)"]
        if !first.tags.isEmpty { arguments.append("--tags=\(first.tags.joined(separator: ","))") }
        if let key = first.keyFile, !key.isEmpty { arguments.append("--private-key=\(key)") }
        if let verbosity = settings.verbosity, verbosity > 0 { arguments.append("-" + String(repeating: "v", count: verbosity)) }
        arguments.append("--forks=\(forks)")
        if let extra = settings.ansibleExtraArgs { arguments += ShellWords.split(extra) }

        var run = Run(
            id: runID, playbook: playbookPath, nodes: jobs.map(\.nodeUUID), arguments: arguments, logPath: logPath,
            started: .now)
        func failAll(_ message: String) -> (Run, [String: AgentCommandStatus]) {
            run.ended = .now
            logger.error("\(message)", metadata: ["nodes": "\(run.nodes.joined(separator: ","))"])
            return (
                run,
                Dictionary(
                    uniqueKeysWithValues: jobs.map { ($0.nodeUUID, AgentCommandStatus(name: $0.awaited, status: .failed, error: message)) })
            )
        }

        let document = AnsibleExtraVars.document(
            hosts: jobs.map(\.host), variables: first.variables, pythonInterpreter: first.pythonInterpreter)
        do {
            try fileManager.createDirectory(atPath: settings.playbookLogDirectory, withIntermediateDirectories: true)
            try AnsibleExtraVars.writePrivately(Data(document.serialized().utf8), to: varsPath)
            let header =
                "# \(settings.ansiblePlaybookScript) \(arguments.joined(separator: " "))\n# nodes: \(run.nodes.joined(separator: ", "))\n"
            try Data(header.utf8).write(to: URL(fileURLWithPath: logPath))
        } catch {
            return failAll("Could not prepare the \(first.playbook) run on the conductor: \(error)")
        }

        var environment = ProcessInfo.processInfo.environment
        if let config = settings.resolvedConfigFilePath { environment["ANSIBLE_CONFIG"] = config }
        // The outcome is read from the default callback's plain output.
        environment["ANSIBLE_STDOUT_CALLBACK"] = "default"
        environment["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
        environment["ANSIBLE_NOCOLOR"] = "1"
        environment["ANSIBLE_FORCE_COLOR"] = nil
        environment["PYTHONUNBUFFERED"] = "1"

        let child: ChildProcess
        do {
            child = try ChildProcess(
                settings.ansiblePlaybookScript, arguments, environment: environment, output: .file(logPath))
        } catch {
            return failAll("Could not start \(settings.ansiblePlaybookScript) for \(first.playbook): \(error)")
        }
        run.pid = child.pid
        logger.info(
            "started \(first.playbook) for \(jobs.count) node(s)",
            metadata: ["pid": "\(child.pid)", "run": "\(runID)", "log": "\(logPath)", "nodes": "\(run.nodes.joined(separator: ","))"])
        await started(run)

        let deadline = ContinuousClock.now + settings.playbookTimeout
        var interval = Duration.milliseconds(20)
        while child.isRunning {
            if ContinuousClock.now >= deadline {
                run.timedOut = true
                await terminate(child)
                break
            }
            try? await Task.sleep(for: min(interval, deadline - ContinuousClock.now + .milliseconds(1)))
            interval = min(interval * 2, .milliseconds(500))
        }
        // Only read once reaped: waiting here would hold a thread.
        let status: Int32 = child.isRunning ? -1 : child.waitUntilExit()
        run.exitStatus = status
        run.ended = .now

        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        let output = AnsiblePlaybookOutput(parsing: text)
        var results: [String: AgentCommandStatus] = [:]
        let seconds = settings.playbookTimeout.components.seconds
        for job in jobs {
            let node = job.nodeUUID
            if run.timedOut {
                results[node] = AgentCommandStatus(
                    name: job.awaited, status: .failed,
                    error:
                        "The \(job.playbook) playbook did not end within [ansible] playbook_timeout (\(seconds) s) and was killed. Last output: \(tail(text)) (full output in \(logPath) on conductor \(ProcessInfo.processInfo.hostName))"
                )
            } else if let recap = output.recap[node] {
                if recap.succeeded {
                    results[node] = AgentCommandStatus(name: job.awaited, status: .succeeded)
                } else {
                    let reason =
                        output.failures[node]?.description
                        ?? "Ansible reported \(recap.failed) failed and \(recap.unreachable) unreachable task(s) on node without a reason (output in \(logPath))"
                    results[node] = AgentCommandStatus(name: job.awaited, status: .failed, error: reason)
                }
            } else {
                results[node] = AgentCommandStatus(
                    name: job.awaited, status: .failed,
                    error:
                        "\(settings.ansiblePlaybookScript) \(first.playbook) ended with status \(status) without reporting on the node. Last output: \(tail(text)) (full output in \(logPath) on conductor \(ProcessInfo.processInfo.hostName))"
                )
            }
        }
        let failed = results.values.filter { $0.status == .failed }.count
        logger.info(
            "\(first.playbook) ended with status \(status): \(jobs.count - failed) node(s) succeeded, \(failed) failed",
            metadata: ["run": "\(runID)", "log": "\(logPath)", "timed_out": "\(run.timedOut)"])
        return (run, results)
    }

    /// SIGTERM to the child's process group (Ansible's workers and their SSH sessions), then
    /// SIGKILL five seconds later.
    private static func terminate(_ child: ChildProcess) async {
        let group = -child.pid
        _ = kill(group, SIGTERM)
        let grace = ContinuousClock.now + .seconds(5)
        while child.isRunning, ContinuousClock.now < grace { try? await Task.sleep(for: .milliseconds(50)) }
        _ = kill(group, SIGKILL)
        let reaped = ContinuousClock.now + .seconds(10)
        while child.isRunning, ContinuousClock.now < reaped { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// The last lines of the output, for an error message.
    private static func tail(_ text: String) -> String {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !lines.isEmpty else { return "(none)" }
        let joined = lines.suffix(8).joined(separator: " | ")
        return joined.count > 1500 ? "..." + String(joined.suffix(1500)) : joined
    }

    private static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return formatter.string(from: Date())
    }
}

/// `[ansible] ansible_extra_args` split as a POSIX shell splits words (quotes and backslashes;
/// no expansion), as Ironic's `shlex.split`.
enum ShellWords {
    static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\", open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\\":
                escaped = true
                inWord = true
            case "'", "\"":
                quote = character
                inWord = true
            case " ", "\t", "\n":
                if inWord {
                    words.append(current)
                    current = ""
                    inWord = false
                }
            default:
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
