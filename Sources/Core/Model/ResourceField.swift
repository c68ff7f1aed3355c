/// One API field of a resource (node, port, portgroup, chassis): the microversion that
/// introduced it, how to read it as JSON and, for fields a client may write, how to set it
/// from JSON.
public struct ResourceField<Resource: Sendable>: Sendable {
    /// The wire name, e.g. `local_link_connection`.
    public let name: String
    /// First API minor version that shows it.
    public let minimumAPIMinor: Int
    /// Whether `POST` accepts it.
    public let creatable: Bool
    /// Whether `PATCH` may change it.
    public let patchable: Bool
    /// Reads the field.
    public let get: @Sendable (Resource) -> JSONValue
    /// Writes the field from a client's JSON value; throws `IronicError` (400) on a bad type or value.
    public let set: Setter?

    /// Writes a field from JSON.
    public typealias Setter = @Sendable (inout Resource, JSONValue) throws(IronicError) -> Void

    init(_ name: String, since minor: Int = 1, creatable: Bool = true, patchable: Bool = true,
         get: @escaping @Sendable (Resource) -> JSONValue, set: Setter? = nil) {
        self.name = name
        self.minimumAPIMinor = minor
        self.creatable = creatable && set != nil
        self.patchable = patchable && set != nil
        self.get = get
        self.set = set
    }
}
