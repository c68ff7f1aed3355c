import Hummingbird
enum P {}
