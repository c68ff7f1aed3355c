#!/usr/bin/env python3
"""Writes the whole-disk test image: a 64 MiB raw disk that boots and prints a
marker on the serial console.

Layout:
  sector 0        MBR: 16-bit boot code, disk signature, partition table, 0x55AA
  sectors 2048..  one primary Linux partition (type 0x83) up to the end of the
                  first 32 MiB; the rest of the disk is left unpartitioned so
                  a deploy can add a config-drive partition after it.

The boot code (hand-assembled below, one instruction per line) initialises
COM1 (0x3F8) to 115200 8N1, prints MARKER + CRLF to COM1, then once more
through the BIOS teletype service (int 10h, AH=0Eh) to the screen, then halts
for ever.

Standard library only. Usage: build_test_image.py OUTPUT.raw
"""
import os
import struct
import sys

MARKER = b"SWIFT-IRONIC-TEST-IMAGE-BOOTED"
DISK_SIZE = 64 * 1024 * 1024
SECTOR = 512
PART_START = 2048                                # 1 MiB, the usual alignment
PART_END = 32 * 1024 * 1024 // SECTOR - 1        # last sector of the first 32 MiB
DISK_SIGNATURE = 0x5157F71C                      # fixed: the image is reproducible
LOAD_ADDRESS = 0x7C00                            # where the BIOS loads sector 0

# (offset, bytes, instruction) -- the offsets are checked below, so a change
# that shifts the code and forgets a jump displacement fails loudly.
MSG_OFFSET = 0x65
CODE = [
    # --- set up segments and a stack below the boot sector ---
    (0x00, "FA",       "cli                    ; no interrupts while SS:SP change"),
    (0x01, "31 C0",    "xor  ax, ax"),
    (0x03, "8E D8",    "mov  ds, ax            ; DS = 0: the message is at 0000:7C65"),
    (0x05, "8E D0",    "mov  ss, ax"),
    (0x07, "BC 00 7C", "mov  sp, 0x7C00        ; stack grows down from the boot sector"),
    (0x0A, "FB",       "sti"),
    (0x0B, "FC",       "cld                    ; lodsb counts upwards"),
    # --- COM1: 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit ---
    (0x0C, "BA F9 03", "mov  dx, 0x3F9         ; IER"),
    (0x0F, "30 C0",    "xor  al, al"),
    (0x11, "EE",       "out  dx, al            ; no UART interrupts"),
    (0x12, "BA FB 03", "mov  dx, 0x3FB         ; LCR"),
    (0x15, "B0 80",    "mov  al, 0x80"),
    (0x17, "EE",       "out  dx, al            ; DLAB = 1: 0x3F8/0x3F9 are the divisor"),
    (0x18, "BA F8 03", "mov  dx, 0x3F8         ; DLL"),
    (0x1B, "B0 01",    "mov  al, 0x01"),
    (0x1D, "EE",       "out  dx, al            ; divisor low = 1 (115200 baud)"),
    (0x1E, "BA F9 03", "mov  dx, 0x3F9         ; DLM"),
    (0x21, "30 C0",    "xor  al, al"),
    (0x23, "EE",       "out  dx, al            ; divisor high = 0"),
    (0x24, "BA FB 03", "mov  dx, 0x3FB         ; LCR"),
    (0x27, "B0 03",    "mov  al, 0x03"),
    (0x29, "EE",       "out  dx, al            ; DLAB = 0, 8N1"),
    (0x2A, "BA FA 03", "mov  dx, 0x3FA         ; FCR"),
    (0x2D, "B0 C7",    "mov  al, 0xC7"),
    (0x2F, "EE",       "out  dx, al            ; FIFOs on and cleared, 14-byte trigger"),
    (0x30, "BA FC 03", "mov  dx, 0x3FC         ; MCR"),
    (0x33, "B0 03",    "mov  al, 0x03"),
    (0x35, "EE",       "out  dx, al            ; DTR + RTS"),
    # --- the NUL-terminated message to COM1, polling the UART ---
    # COM1 first and the screen in a second pass: firmware that mirrors the
    # BIOS screen to the serial port (SeaBIOS does under -nographic, so do
    # many servers' console redirection) would otherwise interleave the two
    # copies character by character on the serial line.
    (0x36, "BE 65 7C", "mov  si, 0x7C65        ; LOAD_ADDRESS + MSG_OFFSET"),
    (0x39, "AC",       "next1: lodsb           ; AL = [DS:SI], SI += 1"),
    (0x3A, "84 C0",    "test al, al"),
    (0x3C, "74 12",    "jz   screen            ; 0x3E + 0x12 = 0x50"),
    (0x3E, "88 C3",    "mov  bl, al            ; keep the character"),
    (0x40, "BA FD 03", "mov  dx, 0x3FD         ; LSR"),
    (0x43, "EC",       "wait: in al, dx"),
    (0x44, "A8 20",    "test al, 0x20          ; THR empty? (a missing UART reads 0xFF)"),
    (0x46, "74 FB",    "jz   wait              ; 0x48 - 5 = 0x43"),
    (0x48, "88 D8",    "mov  al, bl"),
    (0x4A, "BA F8 03", "mov  dx, 0x3F8         ; THR"),
    (0x4D, "EE",       "out  dx, al            ; the character to COM1"),
    (0x4E, "EB E9",    "jmp  next1             ; 0x50 - 0x17 = 0x39"),
    # --- the message again, to the screen through the BIOS ---
    (0x50, "BE 65 7C", "screen: mov si, 0x7C65"),
    (0x53, "AC",       "next2: lodsb"),
    (0x54, "84 C0",    "test al, al"),
    (0x56, "74 09",    "jz   done              ; 0x58 + 0x09 = 0x61"),
    (0x58, "B4 0E",    "mov  ah, 0x0E          ; BIOS teletype output, AL = character"),
    (0x5A, "BB 07 00", "mov  bx, 0x0007        ; page 0, light grey"),
    (0x5D, "CD 10",    "int  0x10              ; the character to the screen"),
    (0x5F, "EB F2",    "jmp  next2             ; 0x61 - 0x0E = 0x53"),
    # --- stop ---
    (0x61, "FA",       "done: cli"),
    (0x62, "F4",       "hlt"),
    (0x63, "EB FC",    "jmp  done              ; 0x65 - 4 = 0x61 (an NMI wakes hlt)"),
]


def boot_code():
    code = bytearray()
    for offset, hexbytes, _asm in CODE:
        assert offset == len(code), "instruction at 0x%02X expected at 0x%02X" % (
            len(code), offset)
        code += bytes.fromhex(hexbytes)
    assert len(code) == MSG_OFFSET
    for mov_si in (0x36, 0x50):                  # both "mov si, imm16"
        assert code[mov_si] == 0xBE
        assert struct.unpack_from("<H", code, mov_si + 1)[0] == LOAD_ADDRESS + MSG_OFFSET
    code += MARKER + b"\r\n\x00"
    assert len(code) <= 440, "boot code overlaps the disk signature"
    return bytes(code)


def chs(lba, heads=255, sectors=63):
    """CHS triple as stored in a partition entry (1023/254/63 when too large)."""
    cylinder = lba // (heads * sectors)
    if cylinder > 1023:
        return bytes((254, 0xFF, 0xFF))
    head = (lba // sectors) % heads
    sector = lba % sectors + 1
    return bytes((head, ((cylinder >> 2) & 0xC0) | sector, cylinder & 0xFF))


def mbr():
    sector = bytearray(SECTOR)
    code = boot_code()
    sector[:len(code)] = code
    struct.pack_into("<IH", sector, 440, DISK_SIGNATURE, 0)
    count = PART_END - PART_START + 1
    entry = (bytes((0x80,)) + chs(PART_START) + bytes((0x83,)) + chs(PART_END)
             + struct.pack("<II", PART_START, count))
    sector[446:462] = entry                      # entries 2-4 stay empty
    sector[510:512] = b"\x55\xAA"
    return bytes(sector)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: build_test_image.py OUTPUT.raw")
    out = sys.argv[1]
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(mbr())
        f.truncate(DISK_SIZE)                    # sparse: the rest reads as zeros
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
