import Hummingbird
import ArgumentParser
import ServiceLifecycle
enum P {}
