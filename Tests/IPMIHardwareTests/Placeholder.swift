import Testing

@Test func IPMIHardwareTestsBuilds() {}
