import Foundation

/// The ramdisk's system logs, kept on the conductor as Ironic's `[agent] deploy_logs_collect`
/// asks: `always`, `on_failure` (default) or `never`, into `[agent] deploy_logs_local_path`.
///
/// The agent's `log.collect_system_logs` answers a gzipped tar in base64; it is written as
/// `<node uuid>_<instance uuid or "unknown">_<label>_<UTC time>.tar.gz`. Collecting never fails
/// the caller: a ramdisk that cannot send its logs is only logged.
public enum RamdiskLogs {
    /// Collects the logs of the task's ramdisk when `settings` asks for it after work that
    /// `failed` (or not); returns the file written, if any.
    @discardableResult
    public static func collect(
        _ task: NodeTask, agent: any RamdiskAgentClient, settings: DeployConfig, label: String, failed: Bool
    ) async -> String? {
        let policy = settings.deployLogsCollect
        guard policy == "always" || (policy == "on_failure" && failed) else { return nil }
        guard task.node.driverInternalInfo["agent_url"]?.stringValue != nil else { return nil }
        do {
            let reply = try await agent.run("log.collect_system_logs", params: [:], wait: true, task: task)
            guard reply.status == .succeeded, let text = reply.result?.objectValue?["system_logs"]?.stringValue,
                let data = Data(base64Encoded: text)
            else {
                task.logger.warning("the ramdisk sent no logs: \(reply.error ?? reply.status.rawValue)")
                return nil
            }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd-HH:mm:ss"
            let node = task.node
            let name = "\(node.uuid)_\(node.instanceUUID ?? "unknown")_\(label)_\(formatter.string(from: Date())).tar.gz"
            let directory = URL(fileURLWithPath: settings.deployLogsLocalPath, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            task.logger.info("ramdisk logs stored", metadata: ["path": "\(path)", "bytes": "\(data.count)"])
            return path
        } catch {
            task.logger.warning("could not collect the ramdisk's logs: \(error)")
            return nil
        }
    }
}
