import Core
import HardwareTypes
import Testing

@Suite("fake vendor passthru")
struct FakeVendorTests {
    @Test("Routes are Ironic's FakeVendorB methods")
    func routes() throws {
        let (_, driver) = try fakeHardwareTask()
        let routes = try #require(driver.vendor).routes
        #expect(Set(routes.keys) == ["second_method", "third_method_sync", "fourth_method_shared_lock", "log_passthrough"])
        #expect(routes.values.allSatisfy { $0.httpMethods == ["POST"] && !$0.attach })
        #expect(routes["third_method_sync"]?.async == false)
        #expect(routes["second_method"]?.async == true)
        #expect(routes["second_method"]?.description == "Test if the value of bar is kazoo")
    }

    @Test(
        "Each comparing method answers whether bar is its word",
        arguments: [
            ("second_method", "kazoo"), ("third_method_sync", "meow"), ("fourth_method_shared_lock", "woof"),
        ])
    func comparingMethods(method: String, word: String) async throws {
        let (task, driver) = try fakeHardwareTask()
        let vendor = try #require(driver.vendor)
        #expect(try await vendor.call(method, httpMethod: "POST", body: ["bar": .string(word)], task: task) == true)
        #expect(try await vendor.call(method, httpMethod: "post", body: ["bar": "baz"], task: task) == false)

        let missing = await #expect(throws: IronicError.self) {
            try await vendor.call(method, httpMethod: "POST", body: ["bar": ""], task: task)
        }
        #expect(missing?.code == "MissingParameterValue")
        #expect(missing?.message == "Parameter 'bar' not passed to method '\(method)'.")
    }

    @Test("log_passthrough answers nothing")
    func logPassthrough() async throws {
        let (task, driver) = try fakeHardwareTask()
        let vendor = try #require(driver.vendor)
        #expect(try await vendor.call("log_passthrough", httpMethod: "POST", body: nil, task: task) == nil)
    }

    @Test("Unknown methods and HTTP methods are InvalidParameterValue")
    func badCalls() async throws {
        let (task, driver) = try fakeHardwareTask()
        let vendor = try #require(driver.vendor)
        let unknown = await #expect(throws: IronicError.self) {
            try await vendor.call("first_method", httpMethod: "POST", body: ["bar": "baz"], task: task)
        }
        #expect(unknown?.code == "InvalidParameterValue")
        #expect(unknown?.message == "No handler for method first_method")
        let wrongVerb = await #expect(throws: IronicError.self) {
            try await vendor.call("second_method", httpMethod: "GET", body: ["bar": "kazoo"], task: task)
        }
        #expect(wrongVerb?.message == "The method second_method does not support HTTP GET")
    }
}
