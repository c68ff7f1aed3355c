import Foundation

/// The timed runs of one contender (ipmipower, or a sync pass at one worker count) in one phase.
struct TimedSeries: Encodable, Sendable {
    /// "ipmipower" or "sync".
    var tool: String
    /// Sync workers (nil for ipmipower).
    var workers: Int?
    /// `[ipmi] worker_threads` (nil for ipmipower).
    var ipmiThreads: Int?
    /// The untimed first run, if there was one.
    var warmupSeconds: Double?
    /// Every timed run, in order.
    var seconds: [Double] = []
    /// When the last BMC that answered did, from the start of each timed run.
    var lastAnswerSeconds: [Double] = []

    /// Adds a timed run.
    mutating func record(_ seconds: Double, lastAnswer: Double?) {
        self.seconds.append(seconds)
        lastAnswerSeconds.append(lastAnswer ?? .nan)
    }

    var median: Double { Self.median(seconds) }
    var minimum: Double { seconds.min() ?? .nan }

    /// The row label in the table.
    var label: String {
        guard let workers else { return "ipmipower --stat" }
        return "sync pass, \(workers) workers, \(ipmiThreads ?? 0) IPMI thr."
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tool, forKey: .tool)
        try container.encodeIfPresent(workers, forKey: .workers)
        try container.encodeIfPresent(ipmiThreads, forKey: .ipmiThreads)
        try container.encodeIfPresent(warmupSeconds, forKey: .warmupSeconds)
        try container.encode(seconds, forKey: .seconds)
        // JSON has no NaN: a missing figure is null.
        try container.encode(Self.finite(median), forKey: .median)
        try container.encode(Self.finite(minimum), forKey: .minimum)
        try container.encode(lastAnswerSeconds.map(Self.finite), forKey: .lastAnswerSeconds)
        try container.encode(Self.finite(Self.median(lastAnswerSeconds)), forKey: .lastAnswerMedian)
    }

    static func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }

    private enum CodingKeys: String, CodingKey {
        case tool, workers, seconds, median
        case minimum = "min"
        case ipmiThreads = "ipmi_threads"
        case warmupSeconds = "warmup_seconds"
        case lastAnswerSeconds = "last_answer_seconds"
        case lastAnswerMedian = "last_answer_median"
    }
}

/// Everything one run of the benchmark measured; `--json` writes it as it is.
struct SyncBenchResults: Encodable, Sendable {
    var nodes: Int
    var passes: Int
    var cpus: Int
    var host: String
    var defaultWorkers: Int
    var sessionTimeoutSeconds: Double
    var retryTimeoutSeconds: Double
    var ipmipowerVersion: String
    var ipmipowerCommand: String
    var labStartSeconds: Double = 0
    var healthy: [TimedSeries] = []
    var frozenBMC: String?
    var frozen: [TimedSeries] = []
    /// Nodes checked in every frozen pass (N-1 expected), per worker count.
    var frozenChecked: [String: [Int]] = [:]
    /// Power states ipmipower printed in every frozen run (N-1 expected).
    var frozenIPMIPowerLines: [Int] = []
    /// A pass after the thaw checked every node.
    var recoveredAfterThaw: Bool?
    var goalMet: Bool?
    var goalRatio: Double?
    var frozenClaimMet: Bool?

    enum CodingKeys: String, CodingKey {
        case nodes, passes, cpus, host, healthy, frozen
        case defaultWorkers = "default_workers"
        case sessionTimeoutSeconds = "session_timeout_seconds"
        case retryTimeoutSeconds = "command_retry_timeout_seconds"
        case ipmipowerVersion = "ipmipower_version"
        case ipmipowerCommand = "ipmipower_command"
        case labStartSeconds = "lab_start_seconds"
        case frozenBMC = "frozen_bmc"
        case frozenChecked = "frozen_checked"
        case frozenIPMIPowerLines = "frozen_ipmipower_power_lines"
        case recoveredAfterThaw = "recovered_after_thaw"
        case goalMet = "goal_within_2x_met"
        case goalRatio = "goal_ratio"
        case frozenClaimMet = "frozen_claim_met"
    }

    var ipmipowerHealthy: TimedSeries? { healthy.first { $0.workers == nil } }
    var ipmipowerFrozen: TimedSeries? { frozen.first { $0.workers == nil } }

    func healthySync(workers: Int) -> TimedSeries? { healthy.first { $0.workers == workers } }

    /// The goal is judged on the default worker count: what an operator gets without tuning.
    static let goalRatio = 2.0
    /// A frozen pass may exceed the healthy one by the frozen BMC's timeout plus this share of it.
    static let frozenSlack = 0.10

    /// How long a frozen BMC may hold its node: one session, or retries up to the retry timeout.
    var frozenBudgetSeconds: Double { max(sessionTimeoutSeconds, retryTimeoutSeconds) }

    /// The final table as text.
    func table() -> String {
        var lines: [String] = []
        let timeout = Self.format(sessionTimeoutSeconds)
        lines.append(
            "nodes \(nodes), passes \(passes) (median and min), session timeout \(timeout) s, \(cpus) CPUs, \(ipmipowerVersion)")
        lines.append("")
        lines.append(Self.row("healthy: one pass over every BMC", "median s", "min s", "ratio"))
        lines.append(String(repeating: "-", count: 86))
        let floor = ipmipowerHealthy?.median ?? .nan
        for series in healthy {
            let ratio = Self.ratio(series.median / floor)
            lines.append(Self.row(series.label, Self.format(series.median), Self.format(series.minimum), ratio))
        }
        lines.append("(ratio: median ÷ ipmipower's median, ipmipower being the floor; below 2x is the goal)")
        if let goalRatio, let goalMet {
            lines.append(
                "goal: within 2x (\(defaultWorkers) workers, the default): \(goalMet ? "met" : "not met") (\(Self.ratio(goalRatio)))")
        }
        let syncHealthy = healthy.filter { $0.workers != nil }
        if let best = syncHealthy.min(by: { $0.median < $1.median }), best.workers != defaultWorkers {
            lines.append("fastest: \(best.workers!) workers, \(Self.ratio(best.median / floor)) of ipmipower")
        }

        guard let frozenBMC, !frozen.isEmpty else { return lines.joined(separator: "\n") }
        lines.append("")
        lines.append(
            "one frozen BMC (\(frozenBMC), SIGSTOP); its own timeout: session \(timeout) s, command retry \(Self.format(retryTimeoutSeconds)) s"
        )
        lines.append(Self.row("frozen: one pass over every BMC", "median s", "healthy s", "delta s", "last answer", "answered"))
        lines.append(String(repeating: "-", count: 100))
        for series in frozen {
            let before = healthy.first { $0.workers == series.workers && $0.tool == series.tool }?.median ?? .nan
            let counts = series.workers.map { frozenChecked[String($0)] ?? [] } ?? frozenIPMIPowerLines
            let checked = Set(counts).count == 1 ? "\(counts[0])/\(nodes)" : counts.map(String.init).joined(separator: ",")
            lines.append(
                Self.row(
                    series.label, Self.format(series.median), Self.format(before), "+" + Self.format(series.median - before),
                    Self.format(TimedSeries.median(series.lastAnswerSeconds)) + " s", checked))
        }
        lines.append(
            "(delta: frozen median − healthy median; last answer: median time from the start until the last of the other BMCs\n had answered; answered: nodes checked by the pass, power states printed by ipmipower. The claim holds when every sync delta ≤ the frozen BMC's timeout \(Self.format(frozenBudgetSeconds)) s + \(Int(Self.frozenSlack * 100)) % and every other node is checked)"
        )
        if let ours = frozen.first(where: { $0.workers == defaultWorkers }), let theirs = ipmipowerFrozen {
            let healthyPass = healthySync(workers: defaultWorkers)?.median ?? .nan
            lines.append(
                "the other \(nodes - 1) BMCs: the last answered \(Self.format(TimedSeries.median(ours.lastAnswerSeconds))) s into a sync pass "
                    + "(\(defaultWorkers) workers; healthy pass \(Self.format(healthyPass)) s), "
                    + "\(Self.format(TimedSeries.median(theirs.lastAnswerSeconds))) s into an ipmipower run")
        }
        if let frozenClaimMet {
            lines.append("frozen BMC: sync pass grew by at most its timeout: \(frozenClaimMet ? "met" : "not met")")
        }
        if let recoveredAfterThaw {
            lines.append("after thaw: a pass checked every node: \(recoveredAfterThaw ? "yes" : "no")")
        }
        return lines.joined(separator: "\n")
    }

    static func row(_ label: String, _ columns: String...) -> String {
        label.padding(toLength: 40, withPad: " ", startingAt: 0) + columns.map { $0.leftPadded(to: 11) }.joined(separator: " ")
    }

    static func format(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        return String(format: abs(seconds) < 10 ? "%.3f" : "%.2f", seconds)
    }

    static func ratio(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        return String(format: "%.2fx", value)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
