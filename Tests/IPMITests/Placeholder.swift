import Testing

@Test func IPMITestsBuilds() {}
