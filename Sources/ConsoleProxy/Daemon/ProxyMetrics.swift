import ConsoleProxyAPI

/// Prometheus text exposition (format 0.0.4) of the proxy's consoles, rendered from live state
/// at scrape time, so nothing is counted twice and nothing goes stale.
enum ProxyMetrics {
    static func render(_ entries: [ConsoleEntry]) -> String {
        var lines: [String] = []
        let snapshots = entries.map { ($0, $0.status.withLock { $0 }) }
        lines.append("# HELP ironic_ipmiproxy_consoles Consoles on this proxy by state.")
        lines.append("# TYPE ironic_ipmiproxy_consoles gauge")
        for state in ConsoleState.allCases {
            let count = snapshots.filter { $0.1.state == state }.count
            lines.append("ironic_ipmiproxy_consoles{state=\"\(state.rawValue)\"} \(count)")
        }
        func perConsole(_ name: String, _ type: String, _ help: String, _ value: (ConsoleEntry.Status) -> Int) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for (entry, status) in snapshots.sorted(by: { $0.0.id < $1.0.id }) {
                lines.append("\(name){console=\"\(entry.id)\",node_uuid=\"\(entry.nodeUUID)\"} \(value(status))")
            }
        }
        perConsole("ironic_ipmiproxy_console_bytes_in", "gauge", "Bytes received from the BMC by the current worker.") { $0.bytesIn }
        perConsole("ironic_ipmiproxy_console_bytes_out", "gauge", "Bytes sent to the BMC by the current worker.") { $0.bytesOut }
        perConsole("ironic_ipmiproxy_console_clients", "gauge", "Clients attached to the console.") { $0.clients }
        perConsole("ironic_ipmiproxy_console_restarts_total", "counter", "Worker restarts since the console was created.") { $0.restarts }
        lines.append("# HELP ironic_ipmiproxy_worker_restarts_total Worker restarts across all consoles.")
        lines.append("# TYPE ironic_ipmiproxy_worker_restarts_total counter")
        lines.append("ironic_ipmiproxy_worker_restarts_total \(snapshots.reduce(0) { $0 + $1.1.restarts })")
        return lines.joined(separator: "\n") + "\n"
    }
}
