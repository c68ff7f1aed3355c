extension IronicAPI {
    func registerChassisRoutes(_ router: inout APIRouter) {}
}
