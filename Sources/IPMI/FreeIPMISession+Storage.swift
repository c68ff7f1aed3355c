import CFreeIPMI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SEL and SDR repository access over raw commands, so every completion code (reservation
/// cancelled, record not present, ...) is seen and handled here rather than hidden in FreeIPMI's
/// SDR cache files. FreeIPMI still interprets what is read: SEL descriptions, sensor names,
/// units and readings.
extension FreeIPMISession {
    typealias Messages = IPMIMessages

    // MARK: - SEL

    /// SEL records after `recordID` (all when nil), oldest first, each with its 16 raw bytes.
    ///
    /// With `recordID` present in the log, reading starts at its successor. When it is gone (the
    /// log was cleared since), every record with a larger ID is returned.
    func selRecords(after recordID: UInt16?) throws(IPMIError) -> [(record: SELRecord, raw: [UInt8])] {
        let info = try command(Messages.NetFunction.storage, Messages.Command.getSELInfo)
        guard info.count >= 3 else { throw Messages.malformed("Get SEL Info", info) }
        guard Messages.littleEndian16(info[1...2]) > 0 else { return [] }

        var next: UInt16 = 0x0000  // first entry
        var onlyAbove: UInt16?
        if let recordID {
            switch try selEntry(recordID) {
            case .some(let (following, _)):
                if following == 0xFFFF { return [] }
                next = following
            case .none:
                onlyAbove = recordID
            }
        }

        let assumeSystemEvent = workarounds.sel & UInt32(IPMI_SEL_FLAGS_ASSUME_SYTEM_EVENT_RECORDS) != 0
        var records: [(record: SELRecord, raw: [UInt8])] = []
        var visited = Set<UInt16>()
        while visited.insert(next).inserted {
            guard let (following, raw) = try selEntry(next) else { break }
            let record = try Messages.selRecord(raw, assumeSystemEvent: assumeSystemEvent)
            if onlyAbove.map({ record.recordID > $0 }) ?? true { records.append((record, raw)) }
            if following == 0xFFFF { break }
            next = following
        }
        return records
    }

    /// One SEL entry: the next record's ID and the 16 record bytes; nil when the BMC says the
    /// record is not present.
    private func selEntry(_ id: UInt16) throws(IPMIError) -> (next: UInt16, raw: [UInt8])? {
        let netFunction = Messages.NetFunction.storage, getEntry = Messages.Command.getSELEntry
        let (code, data) = try exchange(netFunction, getEntry, Messages.getSELEntry(id))
        switch IPMICompletionCode(rawValue: code) {
        case .success where data.count >= 18:
            return (Messages.littleEndian16(data[0...1]), Array(data[2..<18]))
        case .notPresent:
            return nil
        case .success, .cannotReturnRequestedBytes, .reservationCancelled, .requestLengthInvalid:
            break  // read it in two halves under a reservation, as the specification allows
        default:
            throw IPMIError.completion(code, netFunction: netFunction, command: getEntry, endpoint: endpoint)
        }
        for _ in 0..<3 {
            let reservation = try reserve(Messages.Command.reserveSEL)
            var raw: [UInt8] = []
            var following: UInt16 = 0xFFFF
            var cancelled = false
            for offset: UInt8 in [0, 8] {
                let (code, data) = try exchange(
                    netFunction, getEntry, Messages.getSELEntry(id, reservation: reservation, offset: offset, count: 8))
                if code == IPMICompletionCode.reservationCancelled.rawValue {
                    cancelled = true
                    break
                }
                if code == IPMICompletionCode.notPresent.rawValue { return nil }
                guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: getEntry, endpoint: endpoint) }
                guard data.count >= 10 else { throw Messages.malformed("Get SEL Entry", data) }
                following = Messages.littleEndian16(data[0...1])
                raw += data[2..<10]
            }
            if !cancelled { return (following, raw) }
        }
        throw IPMIError(
            kind: .busy, completionCode: IPMICompletionCode.reservationCancelled.rawValue,
            message: "Get SEL Entry to \(endpoint): the SEL reservation kept being cancelled")
    }

    /// Erases the SEL and waits (up to about two seconds) for the BMC to report the erasure done.
    func clearSEL() throws(IPMIError) {
        let netFunction = Messages.NetFunction.storage, clear = Messages.Command.clearSEL
        for _ in 0..<3 {
            let reservation = try reserve(Messages.Command.reserveSEL)
            let (code, data) = try exchange(netFunction, clear, Messages.clearSEL(reservation: reservation, initiate: true))
            if code == IPMICompletionCode.reservationCancelled.rawValue { continue }
            guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: clear, endpoint: endpoint) }
            if data.first.map({ $0 & 0x0F == 0x01 }) ?? true { return }
            for _ in 0..<20 {
                usleep(100_000)
                let (code, data) = try exchange(netFunction, clear, Messages.clearSEL(reservation: reservation, initiate: false))
                // A BMC that finished erasing may have dropped the reservation with the log.
                if code == IPMICompletionCode.reservationCancelled.rawValue { return }
                guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: clear, endpoint: endpoint) }
                if data.first.map({ $0 & 0x0F == 0x01 }) ?? true { return }
            }
            throw IPMIError(kind: .timeout, message: "Clear SEL to \(endpoint): the erasure did not complete")
        }
        throw IPMIError(
            kind: .busy, completionCode: IPMICompletionCode.reservationCancelled.rawValue,
            message: "Clear SEL to \(endpoint): the SEL reservation kept being cancelled")
    }

    /// Reserve SEL / Reserve SDR Repository; 0 when the BMC does not implement reservations.
    private func reserve(_ command: UInt8) throws(IPMIError) -> UInt16 {
        let netFunction = Messages.NetFunction.storage
        let (code, data) = try exchange(netFunction, command)
        if code == IPMICompletionCode.invalidCommand.rawValue { return 0 }
        guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: command, endpoint: endpoint) }
        guard data.count >= 2 else { throw Messages.malformed(Self.commandName(netFunction, command), data) }
        return Messages.littleEndian16(data[0...1])
    }

    /// FreeIPMI's reading of a SEL record (sensor type, event, direction), or nil when it has
    /// none. `selContext` is a parse-only FreeIPMI SEL context.
    static func describe(_ raw: [UInt8], selContext: ipmi_sel_ctx_t) -> String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        let flags = UInt32(IPMI_SEL_STRING_FLAGS_IGNORE_UNAVAILABLE_FIELD)
        let length = raw.withUnsafeBytes { raw in
            ipmi_sel_parse_read_record_string(
                selContext, "%T %s: %E (%k)", raw.baseAddress, UInt32(raw.count), &buffer, UInt32(buffer.count), flags)
        }
        guard length > 0 else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let trimmed = text.trimmingSpaces
        return trimmed.isEmpty ? nil : trimmed
    }

    // MARK: - SDR

    /// Every record in the SDR repository, header included, in repository order.
    func sdrRecords() throws(IPMIError) -> [[UInt8]] {
        var reservation = try reserve(Messages.Command.reserveSDRRepository)
        var records: [[UInt8]] = []
        var next: UInt16 = 0x0000
        var visited = Set<UInt16>()
        var cancellations = 0
        while visited.insert(next).inserted {
            let record: (next: UInt16, bytes: [UInt8])?
            do {
                record = try sdrRecord(next, reservation: reservation)
            } catch let error where error.code == .reservationCancelled && cancellations < 5 {
                cancellations += 1
                reservation = try reserve(Messages.Command.reserveSDRRepository)
                visited.remove(next)
                continue
            }
            guard let record else { break }
            records.append(record.bytes)
            if record.next == 0xFFFF { break }
            next = record.next
        }
        return records
    }

    /// One SDR record: its 5-byte header, then the body in chunks small enough for every BMC
    /// (16 bytes, halved on "cannot return requested bytes"). Nil when the record is not present.
    private func sdrRecord(_ id: UInt16, reservation: UInt16) throws(IPMIError) -> (next: UInt16, bytes: [UInt8])? {
        let netFunction = Messages.NetFunction.storage, getSDR = Messages.Command.getSDR
        let (code, header) = try exchange(netFunction, getSDR, Messages.getSDR(id, reservation: reservation, offset: 0, count: 5))
        if code == IPMICompletionCode.notPresent.rawValue { return nil }
        guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: getSDR, endpoint: endpoint) }
        guard header.count >= 7 else { throw Messages.malformed("Get SDR", header) }
        let following = Messages.littleEndian16(header[0...1])
        var bytes = Array(header[2..<7])
        let total = 5 + Int(bytes[4])
        var chunk = 16
        while bytes.count < total {
            let count = min(chunk, total - bytes.count)
            let (code, data) = try exchange(
                netFunction, getSDR, Messages.getSDR(id, reservation: reservation, offset: UInt8(bytes.count), count: UInt8(count)))
            if code == IPMICompletionCode.cannotReturnRequestedBytes.rawValue, chunk > 1 {
                chunk /= 2
                continue
            }
            guard code == 0 else { throw IPMIError.completion(code, netFunction: netFunction, command: getSDR, endpoint: endpoint) }
            guard data.count > 2 else { throw Messages.malformed("Get SDR", data) }
            bytes += data[2...].prefix(total - bytes.count)
        }
        return (following, bytes)
    }

    // MARK: - Sensors

    /// Readings of every full and compact sensor record in the SDR.
    ///
    /// A sensor that cannot be read (reading unavailable, scanning disabled, not owned by the
    /// BMC, ...) is reported with a nil value and FreeIPMI's reason as its state; losing the
    /// session fails the whole call.
    func sensorReadings() throws(IPMIError) -> [SensorReading] {
        let records = try sdrRecords()
        guard let sdr = ipmi_sdr_ctx_create() else { throw IPMIError(kind: .other, message: "Cannot create a FreeIPMI SDR context.") }
        defer { ipmi_sdr_ctx_destroy(sdr) }
        guard let reader = ipmi_sensor_read_ctx_create(context) else {
            throw IPMIError(kind: .other, message: "Cannot create a FreeIPMI sensor reading context.")
        }
        defer { ipmi_sensor_read_ctx_destroy(reader) }
        if workarounds.sensorRead != 0 { ipmi_sensor_read_ctx_set_flags(reader, workarounds.sensorRead) }

        var readings: [SensorReading] = []
        for record in records where record.count > 5 && (record[3] == 0x01 || record[3] == 0x02) {
            // A copy with a stable address: Array.withUnsafeBytes cannot rethrow a typed error.
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: record.count, alignment: 1)
            defer { raw.deallocate() }
            raw.copyBytes(from: record)
            let pointer = UnsafeRawPointer(raw.baseAddress), length = UInt32(raw.count)
            var number: UInt8 = 0, sensorType: UInt8 = 0, eventReadingType: UInt8 = 0
            guard ipmi_sdr_parse_sensor_number(sdr, pointer, length, &number) == 0,
                ipmi_sdr_parse_sensor_type(sdr, pointer, length, &sensorType) == 0,
                ipmi_sdr_parse_event_reading_type_code(sdr, pointer, length, &eventReadingType) == 0
            else { continue }
            var shareCount: UInt8 = 1, modifierType: UInt8 = 0, modifierOffset: UInt8 = 0, entitySharing: UInt8 = 0
            if record[3] == 0x02 {
                _ = ipmi_sdr_parse_sensor_record_sharing(sdr, pointer, length, &shareCount, &modifierType, &modifierOffset, &entitySharing)
            }
            let typeName = ipmi_get_sensor_type_string(sensorType).map { String(cString: $0) } ?? "Unknown"
            let unit = Self.unit(sdr, pointer, length)
            for offset in 0..<max(1, shareCount) {
                let name = Self.sensorName(
                    sdr, pointer, length, number: number &+ offset,
                    share: (shareCount, offset, modifierType, modifierOffset))
                var rawReading: UInt8 = 0
                var value: UnsafeMutablePointer<Double>?
                var bitmask: UInt16 = 0
                let result = ipmi_sensor_read(reader, pointer, length, offset, &rawReading, &value, &bitmask)
                defer { free(value) }
                let reading: Double? = value?.pointee
                let state: String?
                switch result {
                case 1:
                    state = Self.eventState(eventReadingType, sensorType, number &+ offset, bitmask)
                case 0:
                    let error = ipmi_sensor_read_ctx_errnum(reader)
                    if error == IPMI_SENSOR_READ_ERR_SENSOR_NON_ANALOG || error == IPMI_SENSOR_READ_ERR_SENSOR_NON_LINEAR {
                        state = Self.eventState(eventReadingType, sensorType, number &+ offset, bitmask)
                    } else {
                        state = Self.readerMessage(reader)
                    }
                default:
                    try throwIfSessionProblem(reader)
                    state = Self.readerMessage(reader)
                }
                readings.append(SensorReading(name: name, type: typeName, value: reading, unit: unit, state: state))
            }
        }
        return readings
    }

    /// Rethrows sensor-read failures that concern the session (timeouts, busy BMC) rather than
    /// the one sensor.
    private func throwIfSessionProblem(_ reader: ipmi_sensor_read_ctx_t) throws(IPMIError) {
        switch ipmi_sensor_read_ctx_errnum(reader) {
        case IPMI_SENSOR_READ_ERR_NODE_BUSY:
            throw IPMIError(
                kind: .busy, completionCode: IPMICompletionCode.nodeBusy.rawValue, message: "Get Sensor Reading to \(endpoint): node busy")
        case IPMI_SENSOR_READ_ERR_IPMI_ERROR:
            let errnum = ipmi_ctx_errnum(context)
            let kind = IPMIError.kind(ofFreeIPMIError: errnum)
            if kind != .completionCode && kind != .invalidRequest {
                throw IPMIError.freeIPMI(errnum, context: "Get Sensor Reading to \(endpoint)")
            }
        case IPMI_SENSOR_READ_ERR_OUT_OF_MEMORY, IPMI_SENSOR_READ_ERR_SYSTEM_ERROR, IPMI_SENSOR_READ_ERR_INTERNAL_ERROR:
            throw IPMIError(kind: .other, message: "Get Sensor Reading to \(endpoint): \(Self.readerMessage(reader) ?? "internal error")")
        default:
            return
        }
    }

    private static func readerMessage(_ reader: ipmi_sensor_read_ctx_t) -> String? {
        ipmi_sensor_read_ctx_errormsg(reader).map { String(cString: $0) }
    }

    /// The record's ID string; for shared compact records, with the instance modifier the
    /// record prescribes (numeric or alphabetic, from its modifier offset).
    private static func sensorName(
        _ sdr: ipmi_sdr_ctx_t, _ record: UnsafeRawPointer?, _ length: UInt32, number: UInt8,
        share: (count: UInt8, offset: UInt8, modifierType: UInt8, modifierOffset: UInt8)
    ) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IPMI_SDR_MAX_SENSOR_NAME_LENGTH) + 1)
        // ipmi_sdr_parse_sensor_name needs an open SDR cache; the ID string parser does not.
        let length = ipmi_sdr_parse_id_string(sdr, record, length, &buffer, UInt32(buffer.count - 1))
        var name = length > 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingSpaces : ""
        if name.isEmpty { return "Sensor #\(number)" }
        if share.count > 1 {
            let instance = Int(share.offset) + Int(share.modifierOffset)
            if share.modifierType == 0 {
                name += " \(instance)"
            } else {
                // Alphabetic: A..Z, then AA, AB, ... (IPMI 2.0 table 43-2).
                var letters = "", value = instance
                repeat {
                    letters = String(UnicodeScalar(UInt8(65 + value % 26))) + letters
                    value = value / 26 - 1
                } while value >= 0
                name += " " + letters
            }
        }
        return name
    }

    /// Abbreviated units ("C", "RPM", "V"), nil for unitless or discrete sensors.
    private static func unit(_ sdr: ipmi_sdr_ctx_t, _ record: UnsafeRawPointer?, _ length: UInt32) -> String? {
        var percentage: UInt8 = 0, modifier: UInt8 = 0, rate: UInt8 = 0, base: UInt8 = 0, modifierUnit: UInt8 = 0
        guard ipmi_sdr_parse_sensor_units(sdr, record, length, &percentage, &modifier, &rate, &base, &modifierUnit) == 0 else { return nil }
        guard base != 0 || percentage != 0 else { return nil }  // "unspecified"
        var buffer = [CChar](repeating: 0, count: 128)
        guard ipmi_sensor_units_string(percentage, modifier, rate, base, modifierUnit, &buffer, UInt32(buffer.count), 1) > 0 else {
            return nil
        }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingSpaces
        return text.isEmpty ? nil : text
    }

    /// FreeIPMI's event messages for a reading's state bits, "OK" when none are set.
    private static func eventState(_ eventReadingType: UInt8, _ sensorType: UInt8, _ number: UInt8, _ bitmask: UInt16) -> String? {
        var messages: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: UInt32 = 0
        let flags = UInt32(IPMI_GET_EVENT_MESSAGES_FLAGS_SENSOR_READING | IPMI_GET_EVENT_MESSAGES_FLAGS_IGNORE_UNRECOGNIZED_EVENTS)
        guard ipmi_get_event_messages(eventReadingType, sensorType, number, bitmask, 0, 0, &messages, &count, "OK", flags) == 0,
            let messages
        else { return nil }
        defer {
            for index in 0..<Int(count) { free(messages[index]) }
            free(messages)
        }
        let texts = (0..<Int(count)).compactMap { messages[$0].map { String(cString: $0) } }
        return texts.isEmpty ? nil : texts.joined(separator: ", ")
    }
}

extension String {
    /// Without leading and trailing spaces (FreeIPMI pads some strings).
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let end = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(scalars[start...end])
    }
}
