import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The serial ports of a lab's servers: one TCP listener per server on 127.0.0.1, all served
/// by one thread with `poll(2)`.
///
/// ipmi_sim's `sol "tcp:..."` connects here as a client; anybody else may connect too (tests
/// do). Every client of a port sees the same output, like several terminals on one UART:
/// the boot log after each power-on (read from the chassis-control files every 250 ms), the
/// echo of whatever any client types, and the ticks and bursts `SerialControl` files ask for.
/// Bounded everywhere: at most `maximumClients` per port, 64 KiB of pending output per client
/// (beyond that output is dropped, as a UART with nobody reading drops it; a burst instead
/// waits for the slowest client), 4 KiB read per wake-up, `burstChunk` generated per wake-up.
final class SerialHub: Sendable {
    /// One server's serial port.
    struct Port: Sendable {
        var name: String
        var listener: Int32
        var port: Int
        var chassisDirectory: String
        var macAddress: String
        var bootLog: Bool
    }

    static let maximumClients = 8
    static let maximumPending = 64 * 1024
    static let chassisPollInterval: Duration = .milliseconds(250)
    /// Most burst bytes generated per wake-up (and per client top-up).
    static let burstChunk = 16 * 1024
    /// How often the loop wakes up during a burst to print its next share (it also wakes when a
    /// client drains).
    static let burstPace: Duration = .milliseconds(2)

    private let stopRequested = Mutex(false)
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = DispatchSemaphore(value: 0)

    /// Starts serving `ports` (their listeners are already bound); the hub owns the sockets.
    init(ports: [Port]) throws(LabError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .system(call: "pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let thread = Thread { [self] in
            let loop = SerialLoop(ports: ports, wake: wakeRead)
            loop.run { self.stopRequested.withLock { $0 } }
            self.finished.signal()
        }
        thread.name = "lab-serial"
        thread.start()
    }

    /// Stops the thread and closes every socket; waits at most 5 s.
    func stop() {
        let first = stopRequested.withLock { wasRequested in
            defer { wasRequested = true }
            return !wasRequested
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        if finished.wait(timeout: .now() + 5) == .success {
            close(wakeRead)
            close(wakeWrite)
        }
    }

}

/// The state of `SerialHub`'s thread; confined to it.
private final class SerialLoop {
    struct Client {
        var fd: Int32
        var pending: [UInt8] = []
        var afterCarriageReturn = false
    }

    final class Node {
        let port: SerialHub.Port
        var clients: [Client] = []
        var powered = false
        var boots = 0
        var script: [(due: ContinuousClock.Instant, text: String)] = []
        var booted = false
        var tickInterval: Duration?
        var nextTick = ContinuousClock.now
        var ticks = 0
        var burst: Burst?

        /// A burst under way.
        struct Burst {
            var request: SerialControl.Burst
            var started: ContinuousClock.Instant
            var emitted = 0
        }

        init(port: SerialHub.Port) { self.port = port }
    }

    enum Target {
        case wake
        case listener(Int)
        case client(Int, Int)
    }

    let nodes: [Node]
    let wake: Int32
    var nextChassisCheck = ContinuousClock.now

    init(ports: [SerialHub.Port], wake: Int32) {
        nodes = ports.map(Node.init)
        self.wake = wake
        for node in nodes {
            (node.powered, node.boots) = readChassis(node)
        }
    }

    func run(stopRequested: () -> Bool) {
        var fds: [pollfd] = []
        var targets: [Target] = []
        while !stopRequested() {
            let now = ContinuousClock.now
            if now >= nextChassisCheck {
                for node in nodes { checkChassis(node, now: now) }
                nextChassisCheck = now + SerialHub.chassisPollInterval
            }
            var nextWake = nextChassisCheck
            for node in nodes {
                emitDueLines(node, now: now)
                if let first = node.script.first, first.due < nextWake { nextWake = first.due }
                emitTick(node, now: now)
                if node.tickInterval != nil, node.booted, node.nextTick < nextWake { nextWake = node.nextTick }
                emitBurst(node, now: now)
                if node.burst != nil, now + SerialHub.burstPace < nextWake {
                    nextWake = now + SerialHub.burstPace
                }
            }

            fds.removeAll(keepingCapacity: true)
            targets.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0))
            targets.append(.wake)
            for (n, node) in nodes.enumerated() {
                fds.append(pollfd(fd: node.port.listener, events: Int16(POLLIN), revents: 0))
                targets.append(.listener(n))
                for (c, client) in node.clients.enumerated() {
                    let events = Int16(POLLIN) | (client.pending.isEmpty ? 0 : Int16(POLLOUT))
                    fds.append(pollfd(fd: client.fd, events: events, revents: 0))
                    targets.append(.client(n, c))
                }
            }
            let timeout = max(0, min(250, Int32(clamping: (nextWake - .now).milliseconds)))
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready <= 0 { continue }

            for (entry, target) in zip(fds, targets) where entry.revents != 0 {
                switch target {
                case .wake:
                    var buffer = [UInt8](repeating: 0, count: 64)
                    _ = read(wake, &buffer, buffer.count)
                case .listener(let n):
                    accept(nodes[n])
                case .client(let n, let c):
                    service(nodes[n], client: c, revents: entry.revents)
                }
            }
            for node in nodes where node.clients.contains(where: { $0.fd < 0 }) {
                node.clients.removeAll { $0.fd < 0 }
            }
        }
        for node in nodes {
            for client in node.clients where client.fd >= 0 { close(client.fd) }
            close(node.port.listener)
        }
    }

    // MARK: Power and the boot log

    func readChassis(_ node: Node) -> (powered: Bool, boots: Int) {
        let directory = node.port.chassisDirectory
        let power = POSIX.readSmallFile(directory + "/power")?.trimmingCharacters(in: .whitespacesAndNewlines)
        let boots = POSIX.readSmallFile(directory + "/boots")?.trimmingCharacters(in: .whitespacesAndNewlines)
        return (power == "1", boots.flatMap { Int($0) } ?? 0)
    }

    func checkChassis(_ node: Node, now: ContinuousClock.Instant) {
        let (powered, boots) = readChassis(node)
        defer {
            node.powered = powered
            node.boots = boots
        }
        readControlFiles(node, now: now, powered: powered)
        guard powered else {
            // Power cut: whatever the machine was printing stops mid-line.
            node.script.removeAll()
            node.booted = false
            node.burst = nil
            return
        }
        guard boots != node.boots || !node.powered else { return }
        node.booted = false
        guard node.port.bootLog else {
            node.script.removeAll()
            node.booted = true
            return
        }
        let device =
            POSIX.readSmallFile(node.port.chassisDirectory + "/boot")?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "default"
        node.script = BootLog.lines(name: node.port.name, bootDevice: device, macAddress: node.port.macAddress)
            .map { (due: now + .milliseconds(Int64($0.after * 1000)), text: $0.text) }
    }

    func emitDueLines(_ node: Node, now: ContinuousClock.Instant) {
        guard !node.script.isEmpty else { return }
        var output: [UInt8] = []
        while let first = node.script.first, first.due <= now {
            output += Array(first.text.utf8)
            node.script.removeFirst()
        }
        if node.script.isEmpty && node.powered { node.booted = true }
        broadcast(output, to: node)
    }

    // MARK: Ticks and bursts (SerialControl)

    func readControlFiles(_ node: Node, now: ContinuousClock.Instant, powered: Bool) {
        let directory = node.port.chassisDirectory
        let interval = SerialControl.tickInterval(POSIX.readSmallFile(directory + "/" + SerialControl.tickFileName))
        if interval != node.tickInterval {
            node.tickInterval = interval
            node.nextTick = now
        }
        let burstPath = directory + "/" + SerialControl.burstFileName
        guard let text = POSIX.readSmallFile(burstPath) else { return }
        unlink(burstPath)
        // A request while off is dropped, as a machine that is off runs nothing.
        if powered, let request = SerialControl.burst(text) {
            node.burst = Node.Burst(request: request, started: now)
        }
    }

    func emitTick(_ node: Node, now: ContinuousClock.Instant) {
        // Ticks pause during a burst, so neither cuts into the other's lines.
        guard let interval = node.tickInterval, node.powered, node.booted, node.burst == nil, now >= node.nextTick else { return }
        broadcast(Array(SerialControl.tickLine(name: node.port.name, count: node.ticks).utf8), to: node)
        node.ticks += 1
        node.nextTick += interval
        if node.nextTick < now { node.nextTick = now + interval }  // behind: skip, never catch up in a rush
    }

    /// Prints the next share of a burst: no more than its rate allows so far, and no more than
    /// the slowest client has room for, so a burst is never dropped by the lab itself.
    func emitBurst(_ node: Node, now: ContinuousClock.Instant) {
        guard var burst = node.burst else { return }
        var allowed = min(burst.request.bytes - burst.emitted, SerialHub.burstChunk)
        if let rate = burst.request.bytesPerSecond {
            let (seconds, attoseconds) = (now - burst.started).components
            let elapsed = Double(seconds) + Double(attoseconds) / 1e18
            allowed = min(allowed, Int(Double(rate) * elapsed) - burst.emitted)
        }
        for client in node.clients where client.fd >= 0 {
            allowed = min(allowed, SerialHub.maximumPending - client.pending.count)
        }
        guard allowed > 0 else { return }
        broadcast(SerialControl.burstBytes(name: node.port.name, offset: burst.emitted, count: allowed), to: node)
        burst.emitted += allowed
        node.burst = burst.emitted < burst.request.bytes ? burst : nil
    }

    // MARK: Clients

    func accept(_ node: Node) {
        for _ in 0..<16 {
            // accept4 is a GNU extension the Glibc module hides; the spawn of a BMC closes
            // inherited descriptors anyway, so the moment before FD_CLOEXEC does no harm.
            let fd = Foundation.accept(node.port.listener, nil, nil)
            guard fd >= 0 else { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            #if canImport(Darwin)
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            if node.clients.count >= SerialHub.maximumClients {
                close(fd)
            } else {
                node.clients.append(Client(fd: fd))
            }
        }
    }

    func service(_ node: Node, client index: Int, revents: Int16) {
        guard node.clients[index].fd >= 0 else { return }
        if revents & Int16(POLLOUT) != 0 {
            flush(node, client: index)
        }
        guard revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0, node.clients[index].fd >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(node.clients[index].fd, $0.baseAddress, $0.count, 0) }
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            drop(node, client: index)
            return
        }
        guard count > 0 else { return }
        broadcast(echo(buffer[0..<count], node: node, client: index), to: node)
    }

    /// What the simulated machine prints for typed bytes: the bytes themselves, CR LF for
    /// Enter (with a login prompt once booted), an erase for backspace.
    func echo(_ input: ArraySlice<UInt8>, node: Node, client index: Int) -> [UInt8] {
        var output: [UInt8] = []
        for byte in input {
            let afterCR = node.clients[index].afterCarriageReturn
            node.clients[index].afterCarriageReturn = false
            switch byte {
            case 0x0a where afterCR, 0x00 where afterCR:
                continue  // the LF or NUL of a CR LF / CR NUL pair
            case 0x0d, 0x0a:
                output += [0x0d, 0x0a]
                node.clients[index].afterCarriageReturn = byte == 0x0d
                if node.booted { output += Array(BootLog.prompt(name: node.port.name).utf8) }
            case 0x08, 0x7f:
                output += [0x08, 0x20, 0x08]
            default:
                output.append(byte)
            }
        }
        return output
    }

    func broadcast(_ bytes: [UInt8], to node: Node) {
        guard !bytes.isEmpty else { return }
        for index in node.clients.indices where node.clients[index].fd >= 0 {
            let room = SerialHub.maximumPending - node.clients[index].pending.count
            node.clients[index].pending += bytes.prefix(max(0, room))
            flush(node, client: index)
        }
    }

    func flush(_ node: Node, client index: Int) {
        let fd = node.clients[index].fd
        guard fd >= 0, !node.clients[index].pending.isEmpty else { return }
        let written = node.clients[index].pending.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, POSIX.sendFlags) }
        if written > 0 {
            node.clients[index].pending.removeFirst(written)
        } else if written < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            drop(node, client: index)
        }
    }

    func drop(_ node: Node, client index: Int) {
        close(node.clients[index].fd)
        node.clients[index].fd = -1
        node.clients[index].pending = []
    }
}
