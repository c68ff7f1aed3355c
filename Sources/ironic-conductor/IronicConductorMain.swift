import Server

/// `ironic-conductor`: a conductor process.
@main
enum IronicConductorMain {
    static func main() async {
        await ConductorCommand.main()
    }
}
