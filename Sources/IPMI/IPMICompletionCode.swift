/// An IPMI completion code (the first byte of every response), with the generic codes of
/// IPMI 2.0 table 5-2 as constants.
///
/// `IPMIError.completionCode` carries the raw byte; `IPMIError.code` wraps it in this type so
/// callers can compare against names instead of numbers:
///
/// ```swift
/// if error.code == .nodeBusy { ... }
/// ```
public struct IPMICompletionCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The byte the BMC sent.
    public var rawValue: UInt8

    /// Wraps a completion code byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// 0x00: the command completed normally.
    public static let success = IPMICompletionCode(rawValue: 0x00)
    /// 0xC0: node busy; the command could not be processed because resources are in use. Retried.
    public static let nodeBusy = IPMICompletionCode(rawValue: 0xC0)
    /// 0xC1: invalid command (the BMC does not implement it).
    public static let invalidCommand = IPMICompletionCode(rawValue: 0xC1)
    /// 0xC2: command invalid for the given LUN.
    public static let invalidForLUN = IPMICompletionCode(rawValue: 0xC2)
    /// 0xC3: timeout while processing the command. Retried.
    public static let timeout = IPMICompletionCode(rawValue: 0xC3)
    /// 0xC4: out of space (SEL or SDR full).
    public static let outOfSpace = IPMICompletionCode(rawValue: 0xC4)
    /// 0xC5: reservation cancelled or invalid reservation ID.
    public static let reservationCancelled = IPMICompletionCode(rawValue: 0xC5)
    /// 0xC6: request data truncated.
    public static let requestTruncated = IPMICompletionCode(rawValue: 0xC6)
    /// 0xC7: request data length invalid.
    public static let requestLengthInvalid = IPMICompletionCode(rawValue: 0xC7)
    /// 0xC8: request data field length limit exceeded.
    public static let requestLengthLimitExceeded = IPMICompletionCode(rawValue: 0xC8)
    /// 0xC9: parameter out of range.
    public static let parameterOutOfRange = IPMICompletionCode(rawValue: 0xC9)
    /// 0xCA: cannot return the number of requested data bytes.
    public static let cannotReturnRequestedBytes = IPMICompletionCode(rawValue: 0xCA)
    /// 0xCB: requested sensor, data or record not present.
    public static let notPresent = IPMICompletionCode(rawValue: 0xCB)
    /// 0xCC: invalid data field in request.
    public static let invalidDataField = IPMICompletionCode(rawValue: 0xCC)
    /// 0xCD: command illegal for the specified sensor or record type.
    public static let illegalForSensorOrRecord = IPMICompletionCode(rawValue: 0xCD)
    /// 0xCE: command response could not be provided.
    public static let responseUnavailable = IPMICompletionCode(rawValue: 0xCE)
    /// 0xCF: cannot execute a duplicated request.
    public static let duplicateRequest = IPMICompletionCode(rawValue: 0xCF)
    /// 0xD0: SDR repository in update mode. Retried.
    public static let sdrRepositoryInUpdateMode = IPMICompletionCode(rawValue: 0xD0)
    /// 0xD1: device in firmware update mode. Retried.
    public static let firmwareUpdateMode = IPMICompletionCode(rawValue: 0xD1)
    /// 0xD2: BMC initialization in progress. Retried.
    public static let initializationInProgress = IPMICompletionCode(rawValue: 0xD2)
    /// 0xD3: destination unavailable.
    public static let destinationUnavailable = IPMICompletionCode(rawValue: 0xD3)
    /// 0xD4: insufficient privilege level for the command.
    public static let insufficientPrivilege = IPMICompletionCode(rawValue: 0xD4)
    /// 0xD5: command not supported in the present state.
    public static let notSupportedInPresentState = IPMICompletionCode(rawValue: 0xD5)
    /// 0xD6: command sub-function disabled or unavailable.
    public static let subFunctionDisabled = IPMICompletionCode(rawValue: 0xD6)
    /// 0xFF: unspecified error.
    public static let unspecified = IPMICompletionCode(rawValue: 0xFF)

    /// How this module classifies the code: busy and timeout codes are retried, malformed or
    /// unsupported requests are `.invalidRequest`, a privilege refusal is `.authentication`.
    public var kind: IPMIError.Kind {
        switch self {
        case .nodeBusy, .sdrRepositoryInUpdateMode, .firmwareUpdateMode, .initializationInProgress: .busy
        case .timeout: .timeout
        case .invalidCommand, .invalidForLUN, .requestLengthInvalid, .requestLengthLimitExceeded,
            .parameterOutOfRange, .invalidDataField, .illegalForSensorOrRecord:
            .invalidRequest
        case .insufficientPrivilege: .authentication
        default: .completionCode
        }
    }

    /// `0xC0`-style hex.
    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: true)
        return "0x" + (hex.count < 2 ? "0" + hex : hex)
    }
}

extension IPMIError {
    /// `completionCode` as a typed value, when the BMC sent one.
    public var code: IPMICompletionCode? { completionCode.map(IPMICompletionCode.init(rawValue:)) }

    /// Whether the operation may succeed if tried again later (`.busy` or `.timeout`).
    public var isTransient: Bool { kind == .busy || kind == .timeout }
}
