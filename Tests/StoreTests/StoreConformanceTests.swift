import Store
import Testing

/// Every `StoreConformance` check, against every backend (`Backend.enabled`).
@Suite("Store conformance")
struct StoreConformanceTests {
    @Test(arguments: Backend.enabled) func nodeRoundTrip(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.nodeRoundTrip)
    }

    @Test(arguments: Backend.enabled) func saveNode(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.saveNode)
    }

    @Test(arguments: Backend.enabled) func nodeConflicts(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.nodeConflicts)
    }

    @Test(arguments: Backend.enabled) func nodeNotFound(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.nodeNotFound)
    }

    @Test(arguments: Backend.enabled) func nodeFilters(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.nodeFilters)
    }

    @Test(arguments: Backend.enabled) func nodePagination(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.nodePagination)
    }

    @Test(arguments: Backend.enabled) func reservations(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.reservations)
    }

    @Test(arguments: Backend.enabled) func reservationTakeover(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.reservationTakeover)
    }

    @Test(arguments: Backend.enabled) func reservationRaceOnOneStore(_ backend: Backend) async throws {
        try await backend.run { try await StoreConformance.reservationRace([$0]) }
    }

    @Test(arguments: Backend.enabled) func cascadeDelete(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.cascadeDelete)
    }

    @Test(arguments: Backend.enabled) func chassis(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.chassis)
    }

    @Test(arguments: Backend.enabled) func ports(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.ports)
    }

    @Test(arguments: Backend.enabled) func portgroups(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.portgroups)
    }

    @Test(arguments: Backend.enabled) func conductors(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.conductors)
    }

    @Test(arguments: Backend.enabled) func history(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.history)
    }

    @Test(arguments: Backend.enabled) func inventory(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.inventory)
    }

    @Test(arguments: Backend.enabled) func sortKeys(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.sortKeys)
    }

    @Test(arguments: Backend.enabled) func upgradeIsIdempotent(_ backend: Backend) async throws {
        try await backend.run(StoreConformance.upgradeIsIdempotent)
    }

    @Test(arguments: Backend.enabled) func saveWhileAnotherConductorHoldsTheLock(_ backend: Backend) async throws {
        try await backend.run { try await StoreConformance.saveWhileReserved(writer: $0, holder: $0) }
    }
}
