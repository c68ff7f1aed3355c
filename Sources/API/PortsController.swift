extension IronicAPI {
    func registerPortRoutes(_ router: inout APIRouter) {}
}
