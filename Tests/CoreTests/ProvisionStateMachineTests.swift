import Foundation
import Testing

import Core

private let machine = ProvisionStateMachine.ironic

@Suite("Provision state machine transitions")
struct ProvisionTransitionTests {
    /// One expected edge, written out by hand from Ironic's machine rather than derived from `Core`.
    struct Row: Sendable, CustomTestStringConvertible {
        let from: ProvisionState
        let event: ProvisionEvent
        let to: ProvisionState

        init(_ from: ProvisionState, _ event: ProvisionEvent, _ to: ProvisionState) {
            self.from = from
            self.event = event
            self.to = to
        }

        var testDescription: String { "\(from.rawValue) --\(event.rawValue)--> \(to.rawValue)" }
    }

    /// Every allowed transition, sorted by source state; anything not here must be rejected.
    static let expected: [Row] = [
        .init(.active, .delete, .deleting),
        .init(.active, .rebuild, .deploying),
        .init(.active, .rescue, .rescuing),
        .init(.active, .service, .servicing),
        .init(.adoptFailed, .adopt, .adopting),
        .init(.adoptFailed, .manage, .manageable),
        .init(.adopting, .done, .active),
        .init(.adopting, .fail, .adoptFailed),
        .init(.available, .deploy, .deploying),
        .init(.available, .manage, .manageable),
        .init(.cleanFailed, .manage, .manageable),
        .init(.cleanHold, .abort, .cleanFailed),
        .init(.cleanHold, .unhold, .cleanWait),
        .init(.cleaning, .done, .available),
        .init(.cleaning, .fail, .cleanFailed),
        .init(.cleaning, .hold, .cleanHold),
        .init(.cleaning, .manage, .manageable),
        .init(.cleaning, .wait, .cleanWait),
        .init(.cleanWait, .abort, .cleanFailed),
        .init(.cleanWait, .fail, .cleanFailed),
        .init(.cleanWait, .hold, .cleanHold),
        .init(.cleanWait, .resume, .cleaning),
        .init(.deleting, .clean, .cleaning),
        .init(.deleting, .fail, .error),
        .init(.deployFailed, .delete, .deleting),
        .init(.deployFailed, .deploy, .deploying),
        .init(.deployFailed, .rebuild, .deploying),
        .init(.deployHold, .abort, .deployFailed),
        .init(.deployHold, .unhold, .deployWait),
        .init(.deploying, .done, .active),
        .init(.deploying, .fail, .deployFailed),
        .init(.deploying, .hold, .deployHold),
        .init(.deploying, .wait, .deployWait),
        .init(.deployWait, .abort, .deployFailed),
        .init(.deployWait, .delete, .deleting),
        .init(.deployWait, .fail, .deployFailed),
        .init(.deployWait, .hold, .deployHold),
        .init(.deployWait, .resume, .deploying),
        .init(.enroll, .manage, .verifying),
        .init(.error, .delete, .deleting),
        .init(.error, .rebuild, .deploying),
        .init(.inspectFailed, .inspect, .inspecting),
        .init(.inspectFailed, .manage, .manageable),
        .init(.inspecting, .done, .manageable),
        .init(.inspecting, .fail, .inspectFailed),
        .init(.inspecting, .wait, .inspectWait),
        .init(.inspectWait, .abort, .inspectFailed),
        .init(.inspectWait, .done, .manageable),
        .init(.inspectWait, .fail, .inspectFailed),
        .init(.inspectWait, .resume, .inspecting),
        .init(.manageable, .adopt, .adopting),
        .init(.manageable, .clean, .cleaning),
        .init(.manageable, .inspect, .inspecting),
        .init(.manageable, .provide, .cleaning),
        .init(.rescue, .delete, .deleting),
        .init(.rescue, .rescue, .rescuing),
        .init(.rescue, .unrescue, .unrescuing),
        .init(.rescueFailed, .delete, .deleting),
        .init(.rescueFailed, .rescue, .rescuing),
        .init(.rescueFailed, .unrescue, .unrescuing),
        .init(.rescueWait, .abort, .rescueFailed),
        .init(.rescueWait, .delete, .deleting),
        .init(.rescueWait, .fail, .rescueFailed),
        .init(.rescueWait, .resume, .rescuing),
        .init(.rescuing, .done, .rescue),
        .init(.rescuing, .fail, .rescueFailed),
        .init(.rescuing, .wait, .rescueWait),
        .init(.serviceFailed, .abort, .active),
        .init(.serviceFailed, .delete, .deleting),
        .init(.serviceFailed, .hold, .serviceHold),
        .init(.serviceFailed, .rescue, .rescuing),
        .init(.serviceFailed, .service, .servicing),
        .init(.serviceFailed, .wait, .serviceWait),
        .init(.serviceHold, .abort, .serviceFailed),
        .init(.serviceHold, .fail, .serviceFailed),
        .init(.serviceHold, .service, .servicing),
        .init(.serviceHold, .unhold, .serviceWait),
        .init(.serviceWait, .abort, .serviceFailed),
        .init(.serviceWait, .delete, .deleting),
        .init(.serviceWait, .fail, .serviceFailed),
        .init(.serviceWait, .hold, .serviceHold),
        .init(.serviceWait, .resume, .servicing),
        .init(.servicing, .done, .active),
        .init(.servicing, .fail, .serviceFailed),
        .init(.servicing, .hold, .serviceHold),
        .init(.servicing, .wait, .serviceWait),
        .init(.unrescueFailed, .delete, .deleting),
        .init(.unrescueFailed, .rescue, .rescuing),
        .init(.unrescueFailed, .unrescue, .unrescuing),
        .init(.unrescuing, .done, .active),
        .init(.unrescuing, .fail, .unrescueFailed),
        .init(.verifying, .done, .manageable),
        .init(.verifying, .fail, .enroll),
    ]

    @Test("the expected table has Ironic's 93 edges and no repeated (state, event)")
    func tableIsWellFormed() {
        #expect(Self.expected.count == 93)
        let pairs = Set(Self.expected.map { "\($0.from.rawValue)|\($0.event.rawValue)" })
        #expect(pairs.count == Self.expected.count)
    }

    @Test("every listed transition is allowed and lands where Ironic does", arguments: ProvisionTransitionTests.expected)
    func allowed(_ row: Row) {
        #expect(machine.nextState(from: row.from, on: row.event) == row.to)
        #expect(machine.allowedEvents(from: row.from).contains(row.event))
    }

    @Test("every (state, event) pair outside the table is rejected")
    func everythingElseIsRejected() {
        var rejected = 0
        for state in ProvisionState.allCases {
            for event in ProvisionEvent.allCases
            where !Self.expected.contains(where: { $0.from == state && $0.event == event }) {
                #expect(
                    machine.nextState(from: state, on: event) == nil,
                    "\(state.rawValue) should reject \(event.rawValue)")
                #expect(!machine.allowedEvents(from: state).contains(event))
                rejected += 1
            }
        }
        #expect(rejected == ProvisionState.allCases.count * ProvisionEvent.allCases.count - 93)
    }

    @Test("the machine's own edge list is exactly the expected table")
    func transitionsMatchTable() {
        let actual = Set(machine.transitions)
        let expected = Set(Self.expected.map { .init(from: $0.from, event: $0.event, to: $0.to) }
            as [ProvisionStateMachine.Transition])
        #expect(machine.transitions.count == actual.count)
        #expect(actual.subtracting(expected).isEmpty, "edges Ironic does not have")
        #expect(expected.subtracting(actual).isEmpty, "edges missing from the machine")
    }

    @Test("allowed events follow ProvisionEvent.allCases order")
    func allowedEventsOrder() {
        #expect(machine.allowedEvents(from: .manageable) == [.provide, .clean, .inspect, .adopt])
        #expect(machine.allowedEvents(from: .deleting) == [.clean, .fail])
        #expect(machine.allowedEvents(from: .deployHold) == [.abort, .unhold])
    }

    @Test("every state is reachable from enroll and nothing is a dead end")
    func reachability() {
        var seen: Set<ProvisionState> = [.enroll]
        var frontier: [ProvisionState] = [.enroll]
        while let state = frontier.popLast() {
            for event in machine.allowedEvents(from: state) {
                if let next = machine.nextState(from: state, on: event), seen.insert(next).inserted {
                    frontier.append(next)
                }
            }
        }
        #expect(seen == Set(ProvisionState.allCases))
        for state in ProvisionState.allCases {
            #expect(!machine.allowedEvents(from: state).isEmpty, "\(state.rawValue) is a dead end")
        }
    }

    @Test("a restarted conductor can fail every stuck state")
    func stuckStatesHaveFailEdge() {
        let expected: [ProvisionState: ProvisionState] = [
            .deploying: .deployFailed, .cleaning: .cleanFailed, .verifying: .enroll, .inspecting: .inspectFailed,
            .adopting: .adoptFailed, .rescuing: .rescueFailed, .unrescuing: .unrescueFailed, .deleting: .error,
            .servicing: .serviceFailed,
        ]
        #expect(Set(expected.keys) == ProvisionState.stuckStatesTreatedAsFailure)
        for (state, failed) in expected {
            #expect(machine.nextState(from: state, on: .fail) == failed)
        }
    }
}

@Suite("Provision targets")
struct ProvisionTargetTests {
    static let expectedTargets: [(ProvisionState, ProvisionState?)] = [
        (.enroll, nil), (.manageable, nil), (.available, nil), (.active, nil), (.error, nil), (.rescue, nil),
        (.verifying, .manageable),
        (.deploying, .active), (.deployWait, .active), (.deployFailed, .active), (.deployHold, .active),
        (.deleting, .available),
        (.cleaning, .available), (.cleanWait, .available), (.cleanFailed, .available), (.cleanHold, .available),
        (.inspecting, .manageable), (.inspectWait, .manageable), (.inspectFailed, .manageable),
        (.adopting, .active), (.adoptFailed, .active),
        (.rescuing, .rescue), (.rescueWait, .rescue), (.rescueFailed, .rescue),
        (.unrescuing, .active), (.unrescueFailed, .active),
        (.servicing, .active), (.serviceWait, .active), (.serviceHold, .active), (.serviceFailed, .active),
    ]

    @Test("each state's default target")
    func targets() {
        #expect(Self.expectedTargets.count == ProvisionState.allCases.count)
        #expect(Set(Self.expectedTargets.map(\.0)) == Set(ProvisionState.allCases))
        for (state, target) in Self.expectedTargets {
            #expect(machine.targetState(of: state) == target, "target of \(state.rawValue)")
        }
    }

    @Test("targets are stable and only transitional states have one")
    func targetsAreStable() {
        for state in ProvisionState.allCases {
            if let target = machine.targetState(of: state) {
                #expect(target.isStable)
                #expect(!state.isStable)
            } else {
                #expect(state.isStable)
            }
        }
    }
}

@Suite("Provision state sets")
struct ProvisionStateSetTests {
    @Test func stable() {
        #expect(ProvisionState.stableStates == [.enroll, .manageable, .available, .active, .error, .rescue])
        #expect(ProvisionState.allCases.filter(\.isStable).count == 6)
        #expect(ProvisionState.error.isStable && !ProvisionState.error.isFailure)
    }

    @Test func unstable() {
        #expect(
            ProvisionState.unstableStates == [
                .deploying, .deployWait, .cleaning, .cleanWait, .verifying, .deleting, .inspecting, .inspectWait,
                .adopting, .rescuing, .rescueWait, .unrescuing, .servicing, .serviceWait,
            ])
        #expect(ProvisionState.unstableStates.isDisjoint(with: ProvisionState.stableStates))
        #expect(ProvisionState.cleanHold.isUnstable == false && ProvisionState.cleanHold.isStable == false)
    }

    @Test func failure() {
        #expect(
            ProvisionState.failureStates == [
                .deployFailed, .cleanFailed, .inspectFailed, .rescueFailed, .unrescueFailed, .adoptFailed,
                .serviceFailed,
            ])
        #expect(ProvisionState.allCases.filter(\.isFailure).allSatisfy { $0.rawValue.hasSuffix(" failed") })
        #expect(ProvisionState.allCases.filter { $0.rawValue.hasSuffix(" failed") }.allSatisfy { $0.isFailure })
    }

    @Test func updateAllowed() {
        #expect(
            ProvisionState.updateAllowedStates == [
                .deployFailed, .inspecting, .inspectFailed, .inspectWait, .cleanFailed, .error, .verifying,
                .adoptFailed, .rescueFailed, .unrescueFailed, .serviceHold, .serviceFailed,
            ])
        #expect(ProvisionState.serviceHold.allowsUpdate)
        #expect(!ProvisionState.servicing.allowsUpdate)
        #expect(!ProvisionState.deploying.allowsUpdate)
    }

    @Test func deleteAllowed() {
        #expect(ProvisionState.deleteAllowedStates == [.manageable, .enroll, .adoptFailed])
        #expect(ProvisionState.allCases.filter(\.allowsDelete).count == 3)
        #expect(!ProvisionState.available.allowsDelete)
    }

    @Test func stuck() {
        #expect(
            ProvisionState.stuckStatesTreatedAsFailure == [
                .deploying, .cleaning, .verifying, .inspecting, .adopting, .rescuing, .unrescuing, .deleting,
                .servicing,
            ])
        #expect(ProvisionState.deploying.isStuckTreatedAsFailure)
        #expect(!ProvisionState.deployWait.isStuckTreatedAsFailure)
    }

    @Test func lookup() {
        #expect(
            ProvisionState.lookupAllowedStates == [
                .deploying, .deployWait, .cleaning, .cleanWait, .inspecting, .inspectWait, .rescuing, .rescueWait,
                .serviceWait,
            ])
        #expect(
            ProvisionState.fastTrackLookupAllowedStates == [
                .enroll, .manageable, .available, .deploying, .deployWait, .cleaning, .cleanWait, .inspecting,
                .inspectWait, .rescuing, .rescueWait, .servicing, .serviceWait, .serviceHold,
            ])
    }
}

@Suite("Provision wire values")
struct ProvisionWireTests {
    static let stateStrings: [(ProvisionState, String)] = [
        (.enroll, "enroll"), (.verifying, "verifying"), (.manageable, "manageable"), (.available, "available"),
        (.active, "active"), (.deploying, "deploying"), (.deployWait, "wait call-back"),
        (.deployFailed, "deploy failed"), (.deployHold, "deploy hold"), (.deleting, "deleting"),
        (.cleaning, "cleaning"), (.cleanWait, "clean wait"), (.cleanFailed, "clean failed"),
        (.cleanHold, "clean hold"), (.error, "error"), (.inspecting, "inspecting"),
        (.inspectWait, "inspect wait"), (.inspectFailed, "inspect failed"), (.adopting, "adopting"),
        (.adoptFailed, "adopt failed"), (.rescuing, "rescuing"), (.rescueWait, "rescue wait"),
        (.rescueFailed, "rescue failed"), (.rescue, "rescue"), (.unrescuing, "unrescuing"),
        (.unrescueFailed, "unrescue failed"), (.servicing, "servicing"), (.serviceWait, "service wait"),
        (.serviceHold, "service hold"), (.serviceFailed, "service failed"),
    ]

    @Test("every state's wire string")
    func stateRawValues() {
        #expect(Self.stateStrings.count == ProvisionState.allCases.count)
        #expect(Set(Self.stateStrings.map(\.0)) == Set(ProvisionState.allCases))
        for (state, wire) in Self.stateStrings {
            #expect(state.rawValue == wire)
            #expect(ProvisionState(rawValue: wire) == state)
        }
    }

    @Test(
        "strings outside Ironic's machine are not states",
        arguments: ["deleted", "deploy complete", "service", "deploy", "None", ""])
    func notStates(_ wire: String) {
        #expect(ProvisionState(rawValue: wire) == nil)
    }

    @Test("states encode as their wire strings in JSON")
    func json() throws {
        let encoded = try JSONEncoder().encode([ProvisionState.deployWait, .cleanHold])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["wait call-back","clean hold"]"#)
        let decoded = try JSONDecoder().decode([ProvisionState].self, from: Data(#"["inspect wait"]"#.utf8))
        #expect(decoded == [.inspectWait])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([ProvisionState].self, from: Data(#"["deleted"]"#.utf8))
        }
    }

    @Test("events are exactly Ironic's event names")
    func events() {
        #expect(
            Set(ProvisionEvent.allCases.map(\.rawValue)) == [
                "manage", "provide", "deploy", "rebuild", "delete", "clean", "inspect", "adopt", "rescue",
                "unrescue", "service", "abort", "unhold", "hold", "wait", "resume", "done", "fail",
            ])
        #expect(ProvisionEvent(rawValue: "error") == nil)
        let used = Set(machine.transitions.map(\.event))
        #expect(used == Set(ProvisionEvent.allCases))
    }
}

@Suite("Provision verbs")
struct ProvisionVerbTests {
    static let verbs: [(String, ProvisionEvent, Int)] = [
        ("active", .deploy, 1), ("deploy", .deploy, 73), ("rebuild", .rebuild, 1),
        ("deleted", .delete, 1), ("undeploy", .delete, 1),
        ("manage", .manage, 4), ("provide", .provide, 4), ("inspect", .inspect, 6), ("abort", .abort, 13),
        ("clean", .clean, 15), ("adopt", .adopt, 17), ("rescue", .rescue, 38), ("unrescue", .unrescue, 38),
        ("unhold", .unhold, 85), ("service", .service, 87),
    ]

    @Test("each target's event and minimum microversion")
    func mapping() throws {
        #expect(Self.verbs.count == ProvisionVerb.allCases.count)
        for (wire, event, minor) in Self.verbs {
            let verb = try #require(ProvisionVerb(rawValue: wire), "\(wire) is a verb")
            #expect(verb.event == event, "\(wire)")
            #expect(verb.minimumAPIMinor == minor, "\(wire)")
        }
        #expect(ProvisionVerb(rawValue: "delete") == nil)
        #expect(ProvisionVerb(rawValue: "done") == nil)
    }

    @Test("aborting some wait states needs a newer microversion")
    func abortVersions() {
        #expect(ProvisionVerb.abort.minimumAPIMinor(from: .cleanWait) == 13)
        #expect(ProvisionVerb.abort.minimumAPIMinor(from: .inspectWait) == 41)
        #expect(ProvisionVerb.abort.minimumAPIMinor(from: .deployWait) == 110)
        #expect(ProvisionVerb.manage.minimumAPIMinor(from: .deployWait) == 4)
    }

    @Test("verbs drive the expected transitions")
    func verbsOnTheMachine() {
        #expect(machine.nextState(from: .available, on: ProvisionVerb.active.event) == .deploying)
        #expect(machine.nextState(from: .active, on: ProvisionVerb.undeploy.event) == .deleting)
        #expect(machine.nextState(from: .active, on: ProvisionVerb.deploy.event) == nil)
        #expect(machine.nextState(from: .deployFailed, on: ProvisionVerb.active.event) == .deploying)
    }
}
