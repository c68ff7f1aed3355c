import AgentDrivers
import Core
import Testing

@Suite struct AgentClientTests {
}
