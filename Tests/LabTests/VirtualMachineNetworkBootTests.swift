import Foundation
import Testing

@testable import Lab

/// What a lab virtual machine network-boots: the iPXE boot URL, or PXELINUX over QEMU's TFTP.
@Suite("Virtual machine network boot")
struct VirtualMachineNetworkBootTests {
    static func script(_ settings: VirtualMachineSettings) -> String {
        VirtualMachineFiles.controlScript(
            qemu: "/usr/bin/qemu-system-x86_64", directory: "/tmp/vm", name: "lab-node-0", macAddress: "52:54:00:68:00:00",
            agentPort: 40000, settings: settings)
    }

    @Test func theBootURLByDefault() {
        let script = Self.script(VirtualMachineSettings())
        #expect(script.contains("-netdev user,id=net0,bootfile='http://10.0.2.2:8088/boot.ipxe',hostfwd=tcp:127.0.0.1:40000-:9999 "))
        #expect(!script.contains("tftp="))
    }

    @Test func pxelinuxFromQEMUsTFTPServerWithATFTPRoot() {
        var settings = VirtualMachineSettings()
        settings.tftpRoot = "/srv/tftp boot"
        let script = Self.script(settings)
        #expect(script.contains("-netdev user,id=net0,tftp='/srv/tftp boot',bootfile='pxelinux.0',hostfwd=tcp:127.0.0.1:40000-:9999 "))
        #expect(!script.contains("boot.ipxe"))
    }

    @Test func commasAndQuotesSurviveQEMUAndTheShell() {
        var settings = VirtualMachineSettings()
        settings.tftpRoot = "/srv/a,b'c"
        settings.tftpBootFile = "bios/pxelinux.0"
        #expect(VirtualMachineFiles.networkBoot(settings) == #"tftp='/srv/a,,b'\''c',bootfile='bios/pxelinux.0'"#)
    }
}
