extension IronicAPI {
    func registerDriverRoutes(_ router: inout APIRouter) {}
}
