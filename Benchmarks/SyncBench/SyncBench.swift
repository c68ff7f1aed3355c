import ArgumentParser
import Conductor
import Core
import Foundation
import Lab
import Logging
import Server

/// `ironic-bench-sync`: the wall time of one power-sync pass across N lab nodes, beside the wall
/// time of FreeIPMI's `ipmipower --stat` across the same BMCs in the same run, then the same
/// with one BMC frozen. Figures and ratios, not pass/fail; see Benchmarks/README.md.
@main
struct SyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ironic-bench-sync",
        abstract: "Time one power-sync pass across lab BMCs beside FreeIPMI's ipmipower --stat, healthy and with one BMC frozen.")

    @Option(name: .customLong("nodes"), help: "Lab servers (ipmi_sim BMCs) and ipmi nodes.")
    var nodes = 200

    @Option(name: .customLong("passes"), help: "Timed passes per contender and phase (median and min are reported).")
    var passes = 5

    @Option(name: .customLong("workers"), help: "sync_power_state_workers for the main figure (default: the configuration default).")
    var workers: Int?

    @Option(
        name: .customLong("compare-workers"),
        help: "Higher worker counts measured beside it, comma-separated; empty for none. [ipmi] worker_threads is raised to match.")
    var compareWorkers = "32,64"

    @Option(name: .customLong("session-timeout"), help: "IPMI session timeout in seconds, for both tools (it bounds the frozen BMC).")
    var sessionTimeout = 2.0

    @Option(
        name: .customLong("retry-timeout"),
        help: "[ipmi] command_retry_timeout in seconds (default: the session timeout, so the frozen BMC gets one session, as in ipmipower)."
    )
    var retryTimeout: Double?

    @Option(
        name: .customLong("directory"),
        help: "Work directory for the lab and the database (default: a new temp dir, removed after a successful run).")
    var directory: String?

    @Option(name: .customLong("json"), help: "Also write every figure to this file as JSON.")
    var json: String?

    @Option(name: .customLong("ipmipower"), help: "The ipmipower executable (default: found on PATH or in /usr/sbin).")
    var ipmipower: String?

    @Flag(name: .customLong("no-frozen"), help: "Skip the frozen-BMC phase.")
    var noFrozen = false

    @Flag(name: .customLong("verbose"), help: "Log the lab and the conductor at info level (default: errors only).")
    var verbose = false

    func validate() throws {
        guard (2...LabConfiguration.maximumCount).contains(nodes) else {
            throw ValidationError("--nodes must be between 2 and \(LabConfiguration.maximumCount)")
        }
        guard (1...100).contains(passes) else { throw ValidationError("--passes must be between 1 and 100") }
        guard (0.1...60).contains(sessionTimeout) else { throw ValidationError("--session-timeout must be between 0.1 and 60 seconds") }
        if let retryTimeout, !(0...120).contains(retryTimeout) {
            throw ValidationError("--retry-timeout must be between 0 and 120 seconds")
        }
        if let workers, !(1...1024).contains(workers) { throw ValidationError("--workers must be between 1 and 1024") }
        _ = try Self.workerList(compareWorkers)
    }

    static func workerList(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { item in
            guard let value = Int(item), (1...1024).contains(value) else {
                throw ValidationError("--compare-workers takes worker counts in 1...1024, not '\(item)'")
            }
            return value
        }
    }

    func run() async throws {
        ProcessLogging.bootstrap()
        let children = ChildProcesses()
        children.handleSignals()
        let (workDirectory, created) = try prepareDirectory()
        children.setWorkDirectory(workDirectory)
        do {
            let results = try await measure(in: workDirectory, children: children)
            print("")
            print(results.table())
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(results).write(to: URL(fileURLWithPath: json))
                print("\nJSON written to \(json)")
            }
            if created { try? FileManager.default.removeItem(at: workDirectory) }
        } catch {
            await children.exitIfInterrupted()
            children.stopAll()
            print("\nfailed: \(error)")
            print("kept \(workDirectory.path) (database, ipmipower output)")
            throw ExitCode.failure
        }
    }

    /// The work directory and whether this run created it.
    private func prepareDirectory() throws -> (URL, Bool) {
        let manager = FileManager.default
        if let directory {
            let url = URL(fileURLWithPath: directory).standardizedFileURL
            try manager.createDirectory(at: url, withIntermediateDirectories: true)
            if manager.fileExists(atPath: url.appendingPathComponent("ironic.sqlite").path) {
                throw ValidationError("\(url.path)/ironic.sqlite exists from an earlier run: remove it or pick another --directory")
            }
            return (url, false)
        }
        // The lab writes this path into ipmi_sim's configuration: keep it plain.
        var template = Array("/tmp/ironic-bench-sync-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("mkdtemp failed: errno \(errno)") }
        return (URL(fileURLWithPath: String(cString: made)), true)
    }

    /// Every phase, in order; the lab is stopped before this returns or throws.
    private func measure(in workDirectory: URL, children: ChildProcesses) async throws -> SyncBenchResults {
        var logger = Logger(label: "ironic.bench-sync")
        logger.logLevel = verbose ? .info : .error
        let timeout = Duration.milliseconds(Int64((sessionTimeout * 1000).rounded()))
        let retry = Duration.milliseconds(Int64(((retryTimeout ?? sessionTimeout) * 1000).rounded()))
        let defaultWorkers = workers ?? IronicConfig().conductor.syncPowerStateWorkers
        var workerCounts = [defaultWorkers]
        for count in try Self.workerList(compareWorkers) where !workerCounts.contains(count) { workerCounts.append(count) }

        let clock = ContinuousClock()
        var labConfiguration = LabConfiguration(directory: workDirectory.appendingPathComponent("lab"), count: nodes, bootLog: false)
        var labLogger = Logger(label: "ironic.lab")
        labLogger.logLevel = verbose ? .info : .warning
        labConfiguration.logger = labLogger
        progress("lab: starting \(nodes) ipmi_sim BMCs in \(labConfiguration.directory.path)")
        let labStart = clock.now
        children.labStarting()
        let lab = try await Lab.start(labConfiguration)
        children.setLab(lab)
        let labSeconds = IPMIPowerRunner.seconds(labStart.duration(to: clock.now))
        progress("lab: \(lab.servers.count) BMCs answer (\(SyncBenchResults.format(labSeconds)) s)")
        do {
            var results = try await measure(
                lab: lab, workDirectory: workDirectory, children: children, logger: logger,
                timeout: timeout, retry: retry, workerCounts: workerCounts)
            results.labStartSeconds = labSeconds
            await lab.stop()
            children.setLab(nil)
            progress("lab: stopped")
            return results
        } catch {
            await lab.stop()
            children.setLab(nil)
            throw error
        }
    }

    private func measure(
        lab: Lab, workDirectory: URL, children: ChildProcesses, logger: Logger, timeout: Duration, retry: Duration,
        workerCounts: [Int]
    ) async throws -> SyncBenchResults {
        // Store and nodes.
        var config = IronicConfig()
        config.host = "bench-sync"
        config.drivers.enabledHardwareTypes = ["ipmi"]
        config.database.connection = "sqlite:///" + workDirectory.appendingPathComponent("ironic.sqlite").path
        // No pacing between passes: each pass sends one command per BMC, and passes follow
        // each other at once.
        config.ipmi.minCommandInterval = .zero
        config.ipmi.sessionTimeout = timeout
        config.ipmi.commandRetryTimeout = retry
        // Every frozen pass must measure the same thing: a node that keeps failing stays in
        // the pass instead of going to maintenance after the default 3 failures.
        config.conductor.powerStateSyncMaxRetries = 1000
        // The conductors register once and never heartbeat (no periodic tasks run here): their
        // entries must stay live for the whole run.
        config.conductor.heartbeatTimeout = .seconds(86_400)
        let fleet = try await SyncFleet.create(config: config, lab: lab)
        progress("store: \(fleet.nodeUUIDs.count) ipmi nodes (manageable, power off) in \(workDirectory.path)/ironic.sqlite")
        var conductors: [SyncConductor] = []
        for workers in workerCounts { conductors.append(try await fleet.conductor(workers: workers, logger: logger)) }

        let runner = IPMIPowerRunner(
            executable: try IPMIPowerRunner.find(ipmipower), hosts: lab.servers.map { "127.0.0.1:\($0.bmcPort)" },
            username: lab.username, password: lab.password, sessionTimeout: timeout, outputDirectory: workDirectory,
            children: children)
        var results = SyncBenchResults(
            nodes: nodes, passes: passes, cpus: ProcessInfo.processInfo.activeProcessorCount,
            host: ProcessInfo.processInfo.hostName, defaultWorkers: workerCounts[0],
            sessionTimeoutSeconds: IPMIPowerRunner.seconds(timeout), retryTimeoutSeconds: IPMIPowerRunner.seconds(retry),
            ipmipowerVersion: runner.version(), ipmipowerCommand: runner.displayCommand)
        progress("ipmipower: \(runner.displayCommand)")
        progress(
            "sync: Conductor.syncPowerStates() with workers \(conductors.map { "\($0.workers) (\($0.ipmiThreads) IPMI threads)" }.joined(separator: ", ")); "
                + "min_command_interval 0, session timeout \(SyncBenchResults.format(results.sessionTimeoutSeconds)) s, "
                + "command retry \(SyncBenchResults.format(results.retryTimeoutSeconds)) s")

        // Phase 1: every BMC healthy. One untimed warm-up each (ipmipower's binary and
        // libraries into the page cache; our FreeIPMI client and its threads are created on
        // first use), then rounds that alternate the contenders so load changes hit all alike.
        var ipmiHealthy = TimedSeries(tool: "ipmipower")
        var syncHealthy = conductors.map { TimedSeries(tool: "sync", workers: $0.workers, ipmiThreads: $0.ipmiThreads) }
        let warm = try await healthyIPMIPower(runner).seconds
        ipmiHealthy.warmupSeconds = warm
        var line = "healthy warm-up: ipmipower \(SyncBenchResults.format(warm)) s"
        for (index, conductor) in conductors.enumerated() {
            let seconds = try await healthyPass(conductor).seconds
            syncHealthy[index].warmupSeconds = seconds
            line += " | \(conductor.workers) workers \(SyncBenchResults.format(seconds)) s"
        }
        progress(line)
        for round in 1...passes {
            let run = try await healthyIPMIPower(runner)
            ipmiHealthy.record(run.seconds, lastAnswer: run.lastAnswerSeconds)
            var line = "healthy \(round)/\(passes): ipmipower \(SyncBenchResults.format(run.seconds)) s"
            for (index, conductor) in conductors.enumerated() {
                let pass = try await healthyPass(conductor)
                syncHealthy[index].record(pass.seconds, lastAnswer: pass.lastAnswerSeconds)
                line += " | \(conductor.workers) workers \(SyncBenchResults.format(pass.seconds)) s"
            }
            progress(line)
        }
        results.healthy = [ipmiHealthy] + syncHealthy
        let goal = syncHealthy[0].median / ipmiHealthy.median
        results.goalRatio = goal
        results.goalMet = goal < SyncBenchResults.goalRatio

        guard !noFrozen else { return results }

        // Phase 2: one BMC frozen with SIGSTOP, in the middle of the node list.
        let victim = lab.servers[lab.servers.count / 2]
        results.frozenBMC = victim.name
        try victim.freeze()
        progress("frozen: \(victim.name) (127.0.0.1:\(victim.bmcPort), pid \(victim.pid)) stopped with SIGSTOP")
        var ipmiFrozen = TimedSeries(tool: "ipmipower")
        var syncFrozen = conductors.map { TimedSeries(tool: "sync", workers: $0.workers, ipmiThreads: $0.ipmiThreads) }
        do {
            for round in 1...passes {
                let run = try await runner.run()
                ipmiFrozen.record(run.seconds, lastAnswer: run.lastAnswerSeconds)
                results.frozenIPMIPowerLines.append(run.powerLines)
                var line =
                    "frozen \(round)/\(passes): ipmipower \(SyncBenchResults.format(run.seconds)) s "
                    + "(\(run.powerLines) on/off, the last at \(SyncBenchResults.format(run.lastAnswerSeconds ?? .nan)) s"
                if !run.otherLines.isEmpty { line += ", \(run.otherLines.count)× \"\(run.otherLines[0])\"" }
                line += ")"
                if run.powerLines != nodes - 1 {
                    progress("warning: ipmipower reported \(run.powerLines) power states with one BMC frozen, expected \(nodes - 1)")
                }
                for (index, conductor) in conductors.enumerated() {
                    let pass = await conductor.pass()
                    syncFrozen[index].record(pass.seconds, lastAnswer: pass.lastAnswerSeconds)
                    results.frozenChecked[String(conductor.workers), default: []].append(pass.report.checked)
                    line +=
                        " | \(conductor.workers) workers \(SyncBenchResults.format(pass.seconds)) s "
                        + "(checked \(pass.report.checked), failed \(pass.report.failed), the last answer at \(SyncBenchResults.format(pass.lastAnswerSeconds ?? .nan)) s)"
                }
                progress(line)
            }
        } catch {
            try? victim.thaw()
            throw error
        }
        try victim.thaw()
        progress("thawed: \(victim.name) (SIGCONT)")
        results.frozen = [ipmiFrozen] + syncFrozen
        let budget = results.frozenBudgetSeconds * (1 + SyncBenchResults.frozenSlack)
        let grewWithinBudget = zip(syncFrozen, syncHealthy).allSatisfy { frozen, healthy in frozen.median - healthy.median <= budget }
        let othersChecked = results.frozenChecked.values.allSatisfy { $0.allSatisfy { $0 == nodes - 1 } }
        results.frozenClaimMet = grewWithinBudget && othersChecked

        // The thawed BMC answers its backlog first; give the first conductor up to 3 passes
        // to see every node again.
        var recovered = false
        for attempt in 1...3 where !recovered {
            let pass = await conductors[0].pass()
            recovered = pass.report.checked == nodes && pass.report.failed == 0
            progress(
                "after thaw, pass \(attempt): \(SyncBenchResults.format(pass.seconds)) s, checked \(pass.report.checked), failed \(pass.report.failed)"
            )
        }
        results.recoveredAfterThaw = recovered
        return results
    }

    /// One ipmipower run that must report a power state for every BMC.
    private func healthyIPMIPower(_ runner: IPMIPowerRunner) async throws -> IPMIPowerRunner.Run {
        let run = try await runner.run()
        guard run.powerLines == nodes, run.otherLines.isEmpty else {
            throw BenchError(
                "ipmipower reported \(run.powerLines) power states for \(nodes) healthy BMCs (exit \(run.exitStatus)); other output: \(run.otherLines.prefix(5))"
            )
        }
        return run
    }

    /// One sync pass that must check every node and fail none.
    private func healthyPass(_ conductor: SyncConductor) async throws -> SyncConductor.Pass {
        let pass = await conductor.pass()
        let report = pass.report
        guard report.checked == nodes, report.failed == 0, report.skipped == 0, report.corrected == 0 else {
            throw BenchError("a healthy sync pass with \(conductor.workers) workers reported \(report) for \(nodes) nodes")
        }
        // Every read went through the stopwatch, or its "last answer" figures mean nothing.
        guard pass.answers == nodes else {
            throw BenchError("the sync pass read \(nodes) nodes but the BMC client saw \(pass.answers) answers")
        }
        return pass
    }

    private func progress(_ line: String) {
        print(line)
        fflush(nil)
    }
}

/// A benchmark step that could not be done, with the reason.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
