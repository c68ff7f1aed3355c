extension IronicAPI {
    func registerPortgroupRoutes(_ router: inout APIRouter) {}
}
