import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Lab {
    /// A snapshot of what `lab.json` records for this lab.
    public var state: LabState? { try? LabState.load(from: directory) }

    /// Stops the lab another process runs in `directory` (`ironic lab down`).
    ///
    /// Sends SIGTERM to the process that started it (checked by PID and command line) and
    /// waits up to `timeout` for it to stop its servers and exit; then ends, by PID, any
    /// ipmi_sim of the lab still running (checked against `/proc/PID/cmdline`), as after a
    /// crash of that process. Nothing else is signalled.
    ///
    /// - Throws: `LabError.ownedByThisProcess` when this process runs that lab, or
    ///   `LabError.stateFile` for an unreadable `lab.json`.
    public static func stopRunning(in directory: URL, timeout: Duration = .seconds(20)) async throws -> LabStopReport {
        try await onOwnThread("lab-down") { try stopRunningNow(in: directory.standardizedFileURL, timeout: timeout) }
    }

    static func stopRunningNow(in directory: URL, timeout: Duration) throws(LabError) -> LabStopReport {
        guard let state = try LabState.load(from: directory) else {
            return LabStopReport(found: false, ownerStopped: false, killedServers: [], survivors: [])
        }
        if state.ownerPID == getpid() && LabRegistry.contents.withLock({ $0.directories.contains(directory.path) }) {
            throw .ownedByThisProcess
        }
        var ownerStopped = false
        if state.ownerPID != getpid() && state.isOwnerRunning {
            kill(state.ownerPID, SIGTERM)
            ownerStopped = POSIX.waitUntil(deadline: .now + timeout) { !state.isOwnerRunning }
        }
        var killed: [String] = []
        var survivors: [String] = []
        // Machines the owner could not stop (it died): their QEMU is daemonized.
        for server in state.servers where server.agentPort != nil { VirtualMachineFiles.stop(in: server.chassisDirectory) }
        for server in state.servers where server.isRunning {
            if POSIX.terminateForeign(server.pid, stillOurs: { server.isRunning }) {
                killed.append(server.name)
            } else {
                survivors.append(server.name)
            }
        }
        // A lab whose owner is gone leaves its lab.json behind; the generated files stay for
        // a look at the logs and are replaced at the next start.
        if !state.isOwnerRunning && survivors.isEmpty {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(LabState.fileName))
        }
        return LabStopReport(found: true, ownerStopped: ownerStopped, killedServers: killed, survivors: survivors)
    }
}
