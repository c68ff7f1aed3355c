import Server

/// `ironic-api`: the REST API process.
@main
enum IronicAPIMain {
    static func main() async {
        await APICommand.main()
    }
}
