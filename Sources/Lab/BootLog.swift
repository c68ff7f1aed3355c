/// What a simulated server prints on its serial port after power-on: firmware, a boot loader
/// chosen by the boot device, a kernel, a login prompt.
enum BootLog {
    /// One line and when to print it, in seconds after power-on.
    struct Line: Equatable {
        var after: Double
        var text: String
    }

    /// The prompt printed at the end of a boot and after every Enter once booted.
    static func prompt(name: String) -> String { "\(name) login: " }

    /// The boot log of `name` booting from `bootDevice` (the chassis-control value:
    /// none/default/pxe/cdrom/bios).
    static func lines(name: String, bootDevice: String, macAddress: String) -> [Line] {
        var script: [(Double, String)] = [
            (0.0, "\r\nSeaBIOS (version 1.16.2-swift-ironic-lab)\r\n"),
            (0.1, "Machine: \(name) (a simulated server of swift-ironic's lab)\r\n"),
            (0.2, "Press ESC for boot menu.\r\n\r\n"),
        ]
        switch bootDevice {
        case "bios":
            script += [
                (0.5, "Entering BIOS setup (boot device override: bios)\r\n"),
                (0.6, "\(name) BIOS setup. Nothing to change here; power off to leave.\r\n"),
            ]
            return script.map { Line(after: $0.0, text: $0.1) }
        case "pxe":
            script += [
                (0.4, "Booting from PXE (boot device override: pxe)...\r\n"),
                (0.5, "iPXE 1.21.1 -- Open Source Network Boot Firmware -- https://ipxe.org\r\n"),
                (0.7, "net0: \(macAddress) using virtio-net on 0000:00:03.0 (Ethernet) [open]\r\n"),
                (0.9, "Configuring (net0 \(macAddress))...... ok\r\n"),
                (1.1, "http://127.0.0.1/ipxe... ok, deploy kernel and ramdisk loaded\r\n"),
            ]
        case "cdrom":
            script += [(0.4, "Booting from DVD/CD (boot device override: cdrom)...\r\n")]
        default:
            script += [(0.4, "Booting from Hard Disk...\r\n"), (0.5, "GRUB loading.\r\n")]
        }
        let kernel = bootDevice == "pxe" ? "ironic-python-agent" : "Debian GNU/Linux 12"
        script += [
            (1.3, "[    0.000000] Linux version 6.1.0-lab-amd64 (swift-ironic lab) #1 SMP\r\n"),
            (1.4, "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0,115200n8\r\n"),
            (1.5, "[    0.412817] Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled\r\n"),
            (1.6, "[    0.431022] 00:04: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A\r\n"),
            (1.8, "[    1.902311] virtio_net virtio0 eth0: \(macAddress)\r\n"),
            (2.0, "[    2.310457] systemd[1]: Hostname set to <\(name)>.\r\n"),
            (2.3, "[  OK  ] Reached target Multi-User System.\r\n"),
            (2.5, "\r\n\(kernel) \(name) ttyS0\r\n\r\n"),
            (2.5, prompt(name: name)),
        ]
        return script.map { Line(after: $0.0, text: $0.1) }
    }
}
