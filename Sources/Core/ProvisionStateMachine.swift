/// An input to the provision state machine; raw values are Ironic's event names.
///
/// The first group is what API verbs map to; the second is raised only by the conductor as work progresses.
/// Ironic has no `error` event: a failed tear-down reaches `error` through `fail`.
public enum ProvisionEvent: String, Codable, Sendable, CaseIterable, Hashable {
    /// Requested through the API (see `ProvisionVerb.event`).
    case manage, provide, deploy, rebuild, delete, clean, inspect, adopt, rescue, unrescue, service, abort, unhold
    /// Raised by the conductor: a step paused (`hold`) or awaits a call-back (`wait`), the call-back arrived
    /// (`resume`), or the operation finished (`done`) or failed (`fail`).
    case hold, wait, resume, done, fail
}

/// A `target` accepted by `PUT /v1/nodes/{id}/states/provision`; raw values are the wire strings.
///
/// Several targets are aliases for one event, kept apart because they differ in API version or in what the
/// conductor does (`rebuild` redeploys an existing instance).
public enum ProvisionVerb: String, Codable, Sendable, CaseIterable {
    /// Deploy (the pre-1.73 spelling, still accepted).
    case active
    /// Deploy, spelled as a verb (API 1.73).
    case deploy
    /// Redeploy an `active` node or retry a failed deployment.
    case rebuild
    /// Tear down (the pre-1.73 spelling, still accepted).
    case deleted
    /// Tear down, spelled as a verb.
    case undeploy
    /// Move between the management states and the lifecycles that start from them.
    case manage, provide, inspect, clean, adopt
    /// Interrupt an operation that is waiting or held.
    case abort
    /// Boot into, or return from, the rescue ramdisk.
    case rescue, unrescue
    /// Release a node paused by a deploy, clean or service step.
    case unhold
    /// Run service steps on an active node.
    case service

    /// The machine event the verb triggers; targets that are not themselves event names are translated
    /// the way Ironic's `VERBS` table does.
    public var event: ProvisionEvent {
        switch self {
        case .active, .deploy: .deploy
        case .deleted, .undeploy: .delete
        case .rebuild: .rebuild
        case .manage: .manage
        case .provide: .provide
        case .inspect: .inspect
        case .clean: .clean
        case .adopt: .adopt
        case .abort: .abort
        case .rescue: .rescue
        case .unrescue: .unrescue
        case .unhold: .unhold
        case .service: .service
        }
    }

    /// The lowest API microversion (minor of 1.x) that accepts this target; older requests get 406.
    ///
    /// `undeploy` is 1 on purpose: Ironic keys its version table by event, so `undeploy` (event `delete`)
    /// misses it and is accepted at every version even though it was documented for 1.73 alongside
    /// `deploy`. Ironic checks `unhold` and `service` only after checking the state transition, so at older
    /// versions a wrong-state request for those gets 400 rather than 406.
    public var minimumAPIMinor: Int {
        switch self {
        case .active, .rebuild, .deleted, .undeploy: 1
        case .manage, .provide: 4
        case .inspect: 6
        case .abort: 13
        case .clean: 15
        case .adopt: 17
        case .rescue, .unrescue: 38
        case .deploy: 73
        case .unhold: 85
        case .service: 87
        }
    }

    /// The lowest API microversion accepting this target for a node in `state`.
    ///
    /// Aborting was extended to more states after 1.13: `inspect wait` needs 1.41 and `wait call-back` 1.110.
    public func minimumAPIMinor(from state: ProvisionState) -> Int {
        guard self == .abort else { return minimumAPIMinor }
        switch state {
        case .inspectWait: return 41
        case .deployWait: return 110
        default: return minimumAPIMinor
        }
    }
}

/// The provision state machine as data: which event moves a node from which state to which.
public struct ProvisionStateMachine: Sendable {
    /// One edge of the machine.
    public struct Transition: Hashable, Sendable {
        /// The state the node is in.
        public let from: ProvisionState
        /// The event processed.
        public let event: ProvisionEvent
        /// The state the node ends up in.
        public let to: ProvisionState

        /// Creates an edge.
        public init(from: ProvisionState, event: ProvisionEvent, to: ProvisionState) {
            self.from = from
            self.event = event
            self.to = to
        }
    }

    private struct Key: Hashable {
        let state: ProvisionState
        let event: ProvisionEvent
    }

    /// Every allowed move, in no particular order.
    public let transitions: [Transition]

    /// The default stable state each transitional state heads for; stable states have none.
    public let targets: [ProvisionState: ProvisionState]

    private let next: [Key: ProvisionState]

    /// Builds a machine; a (state, event) pair may appear only once, since the machine must be deterministic.
    public init(transitions: [Transition], targets: [ProvisionState: ProvisionState]) {
        var next: [Key: ProvisionState] = [:]
        for transition in transitions {
            let key = Key(state: transition.from, event: transition.event)
            precondition(next[key] == nil, "duplicate transition \(transition.from) --\(transition.event)-->")
            next[key] = transition.to
        }
        self.transitions = transitions
        self.targets = targets
        self.next = next
    }

    /// The state reached by processing `event` in `state`, or nil when Ironic would refuse the event there.
    public func nextState(from state: ProvisionState, on event: ProvisionEvent) -> ProvisionState? {
        next[Key(state: state, event: event)]
    }

    /// The stable state a transitional state heads for, reported as `target_provision_state`; nil for
    /// stable states.
    ///
    /// This is the static default. Manual cleaning is the exception Ironic decides at run time: a node
    /// cleaned from `manageable` returns there, so the conductor must carry `manageable` as the target
    /// through `cleaning`, `clean wait`, `clean hold` and `clean failed` instead of the `available` given
    /// here.
    public func targetState(of state: ProvisionState) -> ProvisionState? {
        targets[state]
    }

    /// The events `state` accepts, in `ProvisionEvent.allCases` order.
    public func allowedEvents(from state: ProvisionState) -> [ProvisionEvent] {
        ProvisionEvent.allCases.filter { next[Key(state: state, event: $0)] != nil }
    }
}

extension ProvisionStateMachine {
    /// Ironic's machine, grouped by source state.
    public static let ironic = ProvisionStateMachine(
        transitions: [
            // Management lifecycle.
            .init(from: .enroll, event: .manage, to: .verifying),
            .init(from: .verifying, event: .done, to: .manageable),
            .init(from: .verifying, event: .fail, to: .enroll),
            .init(from: .manageable, event: .provide, to: .cleaning),
            .init(from: .manageable, event: .clean, to: .cleaning),
            .init(from: .manageable, event: .inspect, to: .inspecting),
            .init(from: .manageable, event: .adopt, to: .adopting),
            .init(from: .available, event: .deploy, to: .deploying),
            .init(from: .available, event: .manage, to: .manageable),

            // Deployment.
            .init(from: .deploying, event: .done, to: .active),
            .init(from: .deploying, event: .fail, to: .deployFailed),
            .init(from: .deploying, event: .wait, to: .deployWait),
            .init(from: .deploying, event: .hold, to: .deployHold),
            .init(from: .deployWait, event: .resume, to: .deploying),
            .init(from: .deployWait, event: .hold, to: .deployHold),
            .init(from: .deployWait, event: .fail, to: .deployFailed),
            .init(from: .deployWait, event: .abort, to: .deployFailed),
            .init(from: .deployWait, event: .delete, to: .deleting),
            .init(from: .deployHold, event: .unhold, to: .deployWait),
            .init(from: .deployHold, event: .abort, to: .deployFailed),
            .init(from: .deployFailed, event: .rebuild, to: .deploying),
            .init(from: .deployFailed, event: .deploy, to: .deploying),
            .init(from: .deployFailed, event: .delete, to: .deleting),

            // Active instance.
            .init(from: .active, event: .rebuild, to: .deploying),
            .init(from: .active, event: .delete, to: .deleting),
            .init(from: .active, event: .rescue, to: .rescuing),
            .init(from: .active, event: .service, to: .servicing),

            // Tear-down and cleaning.
            .init(from: .deleting, event: .clean, to: .cleaning),
            .init(from: .deleting, event: .fail, to: .error),
            .init(from: .cleaning, event: .done, to: .available),
            .init(from: .cleaning, event: .manage, to: .manageable),
            .init(from: .cleaning, event: .fail, to: .cleanFailed),
            .init(from: .cleaning, event: .wait, to: .cleanWait),
            .init(from: .cleaning, event: .hold, to: .cleanHold),
            .init(from: .cleanWait, event: .resume, to: .cleaning),
            .init(from: .cleanWait, event: .hold, to: .cleanHold),
            .init(from: .cleanWait, event: .fail, to: .cleanFailed),
            .init(from: .cleanWait, event: .abort, to: .cleanFailed),
            .init(from: .cleanHold, event: .unhold, to: .cleanWait),
            .init(from: .cleanHold, event: .abort, to: .cleanFailed),
            .init(from: .cleanFailed, event: .manage, to: .manageable),
            .init(from: .error, event: .rebuild, to: .deploying),
            .init(from: .error, event: .delete, to: .deleting),

            // Inspection.
            .init(from: .inspecting, event: .done, to: .manageable),
            .init(from: .inspecting, event: .fail, to: .inspectFailed),
            .init(from: .inspecting, event: .wait, to: .inspectWait),
            .init(from: .inspectWait, event: .done, to: .manageable),
            .init(from: .inspectWait, event: .fail, to: .inspectFailed),
            .init(from: .inspectWait, event: .abort, to: .inspectFailed),
            .init(from: .inspectWait, event: .resume, to: .inspecting),
            .init(from: .inspectFailed, event: .manage, to: .manageable),
            .init(from: .inspectFailed, event: .inspect, to: .inspecting),

            // Adoption.
            .init(from: .adopting, event: .done, to: .active),
            .init(from: .adopting, event: .fail, to: .adoptFailed),
            .init(from: .adoptFailed, event: .adopt, to: .adopting),
            .init(from: .adoptFailed, event: .manage, to: .manageable),

            // Rescue.
            .init(from: .rescuing, event: .done, to: .rescue),
            .init(from: .rescuing, event: .wait, to: .rescueWait),
            .init(from: .rescuing, event: .fail, to: .rescueFailed),
            .init(from: .rescueWait, event: .resume, to: .rescuing),
            .init(from: .rescueWait, event: .fail, to: .rescueFailed),
            .init(from: .rescueWait, event: .abort, to: .rescueFailed),
            .init(from: .rescueWait, event: .delete, to: .deleting),
            .init(from: .rescue, event: .rescue, to: .rescuing),
            .init(from: .rescue, event: .unrescue, to: .unrescuing),
            .init(from: .rescue, event: .delete, to: .deleting),
            .init(from: .rescueFailed, event: .rescue, to: .rescuing),
            .init(from: .rescueFailed, event: .unrescue, to: .unrescuing),
            .init(from: .rescueFailed, event: .delete, to: .deleting),
            .init(from: .unrescuing, event: .done, to: .active),
            .init(from: .unrescuing, event: .fail, to: .unrescueFailed),
            .init(from: .unrescueFailed, event: .rescue, to: .rescuing),
            .init(from: .unrescueFailed, event: .unrescue, to: .unrescuing),
            .init(from: .unrescueFailed, event: .delete, to: .deleting),

            // Servicing.
            .init(from: .servicing, event: .done, to: .active),
            .init(from: .servicing, event: .fail, to: .serviceFailed),
            .init(from: .servicing, event: .wait, to: .serviceWait),
            .init(from: .servicing, event: .hold, to: .serviceHold),
            .init(from: .serviceWait, event: .resume, to: .servicing),
            .init(from: .serviceWait, event: .hold, to: .serviceHold),
            .init(from: .serviceWait, event: .fail, to: .serviceFailed),
            .init(from: .serviceWait, event: .abort, to: .serviceFailed),
            .init(from: .serviceWait, event: .delete, to: .deleting),
            .init(from: .serviceHold, event: .service, to: .servicing),
            .init(from: .serviceHold, event: .unhold, to: .serviceWait),
            .init(from: .serviceHold, event: .fail, to: .serviceFailed),
            .init(from: .serviceHold, event: .abort, to: .serviceFailed),
            .init(from: .serviceFailed, event: .service, to: .servicing),
            .init(from: .serviceFailed, event: .rescue, to: .rescuing),
            .init(from: .serviceFailed, event: .wait, to: .serviceWait),
            .init(from: .serviceFailed, event: .hold, to: .serviceHold),
            .init(from: .serviceFailed, event: .delete, to: .deleting),
            .init(from: .serviceFailed, event: .abort, to: .active),
        ],
        targets: [
            .verifying: .manageable,
            .deploying: .active, .deployWait: .active, .deployFailed: .active, .deployHold: .active,
            .deleting: .available,
            .cleaning: .available, .cleanWait: .available, .cleanFailed: .available, .cleanHold: .available,
            .inspecting: .manageable, .inspectWait: .manageable, .inspectFailed: .manageable,
            .adopting: .active, .adoptFailed: .active,
            .rescuing: .rescue, .rescueWait: .rescue, .rescueFailed: .rescue,
            .unrescuing: .active, .unrescueFailed: .active,
            .servicing: .active, .serviceWait: .active, .serviceHold: .active, .serviceFailed: .active,
        ]
    )
}
