@main
enum SyncBenchPlaceholder {
    static func main() {}
}
