import Core
import Testing

@Suite("JSON patch")
struct JSONPatchTests {
    let document: JSONValue = ["name": "n", "extra": ["a": 1, "list": [1, 2]], "driver_info": [:]]

    @Test func addReplaceRemove() throws {
        let patch = try JSONPatch([
            ["op": "add", "path": "/extra/b", "value": true],
            ["op": "replace", "path": "/name", "value": "m"],
            ["op": "remove", "path": "/extra/a"],
            ["op": "add", "path": "/extra/list/-", "value": 3],
            ["op": "add", "path": "/driver_info/a~1b", "value": "slash"],
        ])
        let result = try patch.apply(to: document)
        #expect(result == ["name": "m", "extra": ["b": true, "list": [1, 2, 3]], "driver_info": ["a/b": "slash"]])
        #expect(patch.rootFields == ["extra", "name", "driver_info"])
    }

    @Test func removingARootFieldResetsIt() throws {
        let result = try JSONPatch([["op": "remove", "path": "/extra"], ["op": "remove", "path": "/name"]]).apply(to: document)
        #expect(result["extra"] == .object([:]))
        #expect(result["name"] == .null)
    }

    @Test(arguments: [
        ["op": "add", "path": "/x"] as JSONValue,
        [["op": "copy", "path": "/name", "from": "/x"]],
        [["op": "add", "path": "name", "value": 1]],
        [["op": "add", "path": "/", "value": 1]],
        [["path": "/name", "value": 1]],
        [["op": "replace", "path": "/name"]],
        ["not an object"],
    ])
    func malformedPatchesAre400(_ value: JSONValue) {
        #expect(throws: IronicError.self) { _ = try JSONPatch(value) }
    }

    @Test(arguments: [
        [["op": "add", "path": "/new_root", "value": 1]] as JSONValue,
        [["op": "remove", "path": "/extra/missing"]],
        [["op": "replace", "path": "/extra/missing", "value": 1]],
        [["op": "add", "path": "/name/deeper", "value": 1]],
        [["op": "replace", "path": "/extra/list/9", "value": 1]],
    ])
    func patchesThatDoNotFitAre400(_ value: JSONValue) throws {
        let patch = try JSONPatch(value)
        let error = #expect(throws: IronicError.self) { _ = try patch.apply(to: document) }
        #expect(error?.status == 400)
    }
}
