extension IronicAPI {
    func registerConductorRoutes(_ router: inout APIRouter) {}
}
