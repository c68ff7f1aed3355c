import Testing

@Test func LabTestsBuilds() {}
