/// The object form of a config drive (`configdrive` in a provision request, 1.56):
/// `{"meta_data": {...}, "network_data": {...}, "user_data": ..., "vendor_data": {...}}`.
public enum ConfigDriveContents {
    /// What breaks Ironic's schema for the object form, or nil when it conforms: `meta_data`,
    /// `network_data` and `vendor_data` are objects, `user_data` an object, array or string,
    /// and no other key is allowed.
    public static func problem(in contents: [String: JSONValue]) -> String? {
        for key in contents.keys.sorted() {
            let value = contents[key]!
            if value == .null { continue }
            switch key {
            case "meta_data", "network_data", "vendor_data":
                if value.objectValue == nil { return "\"\(key)\" must be an object." }
            case "user_data":
                if value.objectValue == nil, value.arrayValue == nil, value.stringValue == nil {
                    return "\"user_data\" must be an object, an array or a string."
                }
            default:
                return "unknown key \"\(key)\" (expected meta_data, network_data, user_data, vendor_data)."
            }
        }
        return nil
    }
}
