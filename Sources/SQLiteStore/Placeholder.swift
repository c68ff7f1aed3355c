import GRDB
enum P {}
