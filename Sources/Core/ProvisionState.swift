/// A node's `provision_state`: exactly the states registered in Ironic's provision state machine, with the
/// wire strings as raw values.
///
/// Ironic defines three more provision-ish constants that are deliberately absent:
/// - `deleted` is what a deploy interface's tear-down reports and an API verb, but never a node's state;
/// - `deploy complete` was a pre-Kilo `target_provision_state` that nothing sets any more;
/// - `service` is a verb (it is only listed among Ironic's update-allowed states by accident).
///
/// Ironic rejects all three as `provision_state` list filters because its machine does not know them, and
/// leaving them out keeps decoding just as strict.
public enum ProvisionState: String, Codable, Sendable, CaseIterable, Hashable {
    /// Known to Ironic but not yet proven manageable; the initial state of new nodes since API 1.11.
    case enroll
    /// Checking power credentials on the way to `manageable`; failure falls back to `enroll`, not to a failure state.
    case verifying
    /// Verified hardware that is kept out of scheduling.
    case manageable
    /// Cleaned and offered for scheduling.
    case available
    /// Deployed, adopted, or back from rescue or servicing.
    case active
    /// Deployment in progress, waiting for the ramdisk's call-back, failed, or paused by a deploy step.
    case deploying, deployWait = "wait call-back", deployFailed = "deploy failed", deployHold = "deploy hold"
    /// Tearing down an instance; it always continues into `cleaning` (or `error`).
    case deleting
    /// Cleaning in progress, waiting, failed, or paused by a clean step.
    case cleaning, cleanWait = "clean wait", cleanFailed = "clean failed", cleanHold = "clean hold"
    /// Tear-down failed; stable, and only `rebuild` or `delete` leave it.
    case error
    /// Hardware inspection in progress, waiting for an out-of-band result, or failed.
    case inspecting, inspectWait = "inspect wait", inspectFailed = "inspect failed"
    /// Taking over a node deployed by other means, or having failed to.
    case adopting, adoptFailed = "adopt failed"
    /// Booting the rescue ramdisk, waiting for it, or having failed to.
    case rescuing, rescueWait = "rescue wait", rescueFailed = "rescue failed"
    /// Running the rescue ramdisk; stable so it lasts until the user unrescues.
    case rescue
    /// Returning from rescue to `active`, or having failed to.
    case unrescuing, unrescueFailed = "unrescue failed"
    /// Running service steps on an active node, waiting, paused, or failed.
    case servicing, serviceWait = "service wait", serviceHold = "service hold", serviceFailed = "service failed"

    /// States left only on request (Ironic's `STABLE_STATES`); they have no target.
    public static let stableStates: Set<ProvisionState> = [.enroll, .manageable, .available, .active, .error, .rescue]

    /// States the conductor leaves on its own (`UNSTABLE_STATES`); the API refuses some operations in them.
    /// Not the complement of `stableStates`: failed and held states wait for an operator.
    public static let unstableStates: Set<ProvisionState> = [
        .deploying, .deployWait, .cleaning, .cleanWait, .verifying, .deleting, .inspecting, .inspectWait,
        .adopting, .rescuing, .rescueWait, .unrescuing, .servicing, .serviceWait,
    ]

    /// Ironic's `FAILURE_STATES`. `error` is not among them: Ironic treats it as stable.
    public static let failureStates: Set<ProvisionState> = [
        .deployFailed, .cleanFailed, .inspectFailed, .rescueFailed, .unrescueFailed, .adoptFailed, .serviceFailed,
    ]

    /// States in which a node with a `target_provision_state` may still be patched (`UPDATE_ALLOWED_STATES`).
    ///
    /// Nodes without a target (stable ones) are always updatable, so this only matters mid-transition.
    /// `inspecting` stays for old clients; API 1.39+ rejects updates in it separately. Ironic's list also
    /// names the verb `service`, which no node ever has as its state, so it is dropped here.
    public static let updateAllowedStates: Set<ProvisionState> = [
        .deployFailed, .inspecting, .inspectFailed, .inspectWait, .cleanFailed, .error, .verifying, .adoptFailed,
        .rescueFailed, .unrescueFailed, .serviceHold, .serviceFailed,
    ]

    /// States in which `DELETE /v1/nodes/{id}` is allowed outside maintenance (`DELETE_ALLOWED_STATES`);
    /// a conductor option may add `available`.
    public static let deleteAllowedStates: Set<ProvisionState> = [.manageable, .enroll, .adoptFailed]

    /// States whose work lives only in the owning conductor's memory, so a restarted conductor sends them the
    /// `fail` event (`STUCK_STATES_TREATED_AS_FAIL`). Wait states are absent because a call-back can resume them.
    public static let stuckStatesTreatedAsFailure: Set<ProvisionState> = [
        .deploying, .cleaning, .verifying, .inspecting, .adopting, .rescuing, .unrescuing, .deleting, .servicing,
    ]

    /// States in which the ramdisk may look its node up through `/v1/lookup` (`LOOKUP_ALLOWED_STATES`).
    public static let lookupAllowedStates: Set<ProvisionState> = [
        .deploying, .deployWait, .cleaning, .cleanWait, .inspecting, .inspectWait, .rescuing, .rescueWait,
        .serviceWait,
    ]

    /// Lookup states with fast track enabled, where the ramdisk may already be running between operations
    /// (`FASTTRACK_LOOKUP_ALLOWED_STATES`).
    public static let fastTrackLookupAllowedStates: Set<ProvisionState> = [
        .enroll, .manageable, .available, .deploying, .deployWait, .cleaning, .cleanWait, .inspecting,
        .inspectWait, .rescuing, .rescueWait, .servicing, .serviceWait, .serviceHold,
    ]

    /// Whether only a request moves the node on; see `stableStates`.
    public var isStable: Bool { Self.stableStates.contains(self) }

    /// Whether the conductor moves the node on by itself; see `unstableStates`.
    public var isUnstable: Bool { Self.unstableStates.contains(self) }

    /// Whether an operation ended here by failing; see `failureStates`.
    public var isFailure: Bool { Self.failureStates.contains(self) }

    /// Whether a node mid-transition may still be patched; see `updateAllowedStates`.
    public var allowsUpdate: Bool { Self.updateAllowedStates.contains(self) }

    /// Whether the node record may be deleted; see `deleteAllowedStates`.
    public var allowsDelete: Bool { Self.deleteAllowedStates.contains(self) }

    /// Whether a conductor restart fails this state; see `stuckStatesTreatedAsFailure`.
    public var isStuckTreatedAsFailure: Bool { Self.stuckStatesTreatedAsFailure.contains(self) }
}
