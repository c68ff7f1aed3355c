import Foundation

extension Lab {
    /// Runs `body` with a lab of `count` servers in a fresh temporary directory, and stops the
    /// lab (awaited) whatever `body` does: the way tests and benchmarks use a lab.
    public static func withTemporaryLab<T>(
        count: Int, configure: (inout LabConfiguration) -> Void = { _ in }, _ body: (Lab) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ironic-lab-\(UUID().uuidString)")
        var configuration = LabConfiguration(directory: directory, count: count)
        configure(&configuration)
        let lab = try await Lab.start(configuration)
        do {
            let result = try await body(lab)
            await lab.stop()
            return result
        } catch {
            await lab.stop()
            throw error
        }
    }
}
