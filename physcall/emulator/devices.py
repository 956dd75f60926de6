"""Port device models: enough of a PC's I/O space for a real BIOS's paths (SeaBIOS, SeaVGABIOS).

A device has ``read(port, size) -> int``, ``write(port, size, value)`` and ``reset()``;
``default_devices(meta)`` maps each port to one, with what a snapshot recorded (its date for the RTC,
bus 0's PCI configuration spaces).  A port nobody models reads all-ones, as an ISA bus with nothing
on it answers; the dry run lists such reads as ``unknown-read`` hazards.  Writes that reprogram what the
kernel owns (PIC, PIT, PS/2 controller, CMOS, PCI configuration) are ``device`` hazards; the models
still follow them, so that the firmware reads back what it wrote.

>>> d = default_devices({"date": "2026-11-30T02:01:07+00:00"})
>>> d[0x70].write(0x70, 1, 0x09); hex(d[0x71].read(0x71, 1))          # RTC year, BCD
'0x26'
>>> d[0xCF8].write(0xCF8, 4, 0x80000000); hex(d[0xCFC].read(0xCFC, 4))   # PCI 00:00.0: nothing
'0xffffffff'
"""

import datetime
import logging

log = logging.getLogger("physcall.emulator")


def ones(size):
    return (1 << (8 * size)) - 1


class Device:
    """Base: all-ones reads, ignored writes."""
    ports = ()

    def read(self, port, size):
        return ones(size)

    def write(self, port, size, value):
        pass

    def reset(self):
        pass


class Cmos(Device):
    """MC146818 RTC/CMOS at 70h/71h, set to the snapshot's date (UTC, as QEMU's RTC runs by default).

    Status A 26h (32.768 kHz divider, UIP clear), B 02h (24-hour, BCD), D 80h (battery good): the
    values SeaBIOS's rtc_setup() leaves (src/hw/rtc.c).  The clock does not run: a dry run is an
    instant, and the seconds a real call reads are not comparable anyway.
    """
    ports = (0x70, 0x71)
    STATUS = {0x0A: 0x26, 0x0B: 0x02, 0x0C: 0x00, 0x0D: 0x80}

    def __init__(self, when=None):
        self.when = when or datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        self.reset()

    def reset(self):
        w, bcd = self.when, lambda v: (v // 10) << 4 | v % 10
        self.index, self.ram = 0, bytearray(128)
        clock = {0x00: w.second, 0x02: w.minute, 0x04: w.hour, 0x06: w.isoweekday() % 7 + 1,
                 0x07: w.day, 0x08: w.month, 0x09: w.year % 100, 0x32: w.year // 100}
        for k, v in clock.items():
            self.ram[k] = bcd(v)
        for k, v in self.STATUS.items():
            self.ram[k] = v

    def read(self, port, size):
        return self.index if port == 0x70 else self.ram[self.index]

    def write(self, port, size, value):
        if port == 0x70:
            self.index = value & 0x7F            # bit 7 is the NMI mask, not part of the index
        else:
            self.ram[self.index] = value & 0xFF


class Pit(Device):
    """8254 PIT at 40h-43h (Intel 8254 data sheet): per-counter access mode (LSB, MSB, LSB then MSB),
    counter latch and read-back commands.  Counters move down a fixed step per read, so that delay
    loops that poll them end."""
    ports = (0x40, 0x41, 0x42, 0x43)
    STEP = 0x111

    def __init__(self):
        self.reset()

    def reset(self):
        self.count = [0xFFFF] * 3
        self.access = [3] * 3                  # 1 LSB, 2 MSB, 3 LSB then MSB
        self.latch = [None] * 3
        self.flip = [0] * 3                    # next byte of a 16-bit access: 0 LSB, 1 MSB
        self.status = [0x36, 0x74, 0xB6]

    def read(self, port, size):
        if port == 0x43:
            return 0xFF                       # the mode register is write-only
        n = port - 0x40
        if self.latch[n] is None:
            self.count[n] = (self.count[n] - self.STEP) & 0xFFFF
            value = self.count[n]
        else:
            value = self.latch[n]
        if self.access[n] == 1:
            out = value & 0xFF
        elif self.access[n] == 2:
            out = value >> 8
        else:
            out = (value >> (8 * self.flip[n])) & 0xFF
            self.flip[n] ^= 1
        if self.latch[n] is not None and (self.access[n] != 3 or self.flip[n] == 0):
            self.latch[n] = None
        return out

    def write(self, port, size, value):
        value &= 0xFF
        if port != 0x43:
            n = port - 0x40
            if self.access[n] == 3:
                shift = 8 * self.flip[n]
                self.count[n] = (self.count[n] & ~(0xFF << shift) | value << shift) & 0xFFFF
                self.flip[n] ^= 1
            else:
                self.count[n] = value if self.access[n] == 1 else value << 8
            return
        n, access = value >> 6, (value >> 4) & 3
        if n == 3:                                # read-back: latch the counters named in bits 1-3
            for i in range(3):
                if value & (2 << i) and not value & 0x20:
                    self.latch[i] = self.count[i]
        elif access == 0:                         # counter latch command
            self.latch[n], self.flip[n] = self.count[n], 0
        else:
            self.access[n], self.flip[n], self.status[n] = access, 0, value & 0x3F


class Pic(Device):
    """The two 8259A PICs at 20h/21h and A0h/A1h: the initialisation words (ICW1-4), the mask
    (OCW1) read back, OCW3 selecting IRR or ISR for reads (both empty: no interrupt is ever pending
    in a dry run).  The masks start as the kernel leaves them around a jump (FBh/FFh, measured in the
    guest: DESIGN.md, "Interrupts")."""
    ports = (0x20, 0x21, 0xA0, 0xA1)

    def __init__(self):
        self.reset()

    def reset(self):
        self.imr = {0x20: 0xFB, 0xA0: 0xFF}
        self.icw = {0x20: 0, 0xA0: 0}              # ICW words still expected after ICW1

    def read(self, port, size):
        base = port & 0xFE
        return self.imr[base] if port & 1 else 0x00

    def write(self, port, size, value):
        base = port & 0xFE
        if not port & 1:
            if value & 0x10:                      # ICW1: ICW2, ICW3, and ICW4 when bit 0 says so
                self.icw[base] = 3 if value & 1 else 2
            return
        if self.icw[base]:
            self.icw[base] -= 1
        else:
            self.imr[base] = value & 0xFF


class Ps2(Device):
    """The 8042 PS/2 controller at 60h/64h: status (system flag set), the command byte, controller
    commands that answer (20h read command byte, AAh self test -> 55h, ABh/A9h port tests -> 00h,
    D0h output port) and the keyboard's ACK (FAh) to the device commands BIOSes send (IBM PS/2
    Technical Reference, "Keyboard/Auxiliary Device Controller")."""
    ports = (0x60, 0x64)
    ANSWERS = {0xAA: [0x55], 0xAB: [0x00], 0xA9: [0x00], 0xD0: [0x03]}
    KEYBOARD = {0xF2: [0xFA, 0xAB, 0x83], 0xFF: [0xFA, 0xAA], 0xEE: [0xEE]}

    def __init__(self):
        self.reset()

    def reset(self):
        self.out, self.command_byte, self.pending = [], 0x47, None

    def read(self, port, size):
        if port == 0x64:
            return 0x14 | (1 if self.out else 0)
        return self.out.pop(0) if self.out else 0x00

    def write(self, port, size, value):
        value &= 0xFF
        if port == 0x64:
            self.pending = value if value in (0x60, 0xD1, 0xD2, 0xD3, 0xD4) else None
            if value == 0x20:
                self.out.append(self.command_byte)
            self.out += self.ANSWERS.get(value, [])
        elif self.pending == 0x60:
            self.command_byte, self.pending = value, None
        elif self.pending is not None:
            self.pending = None
        else:
            self.out += self.KEYBOARD.get(value, [0xFA])


class SystemPort(Device):
    """Port 61h: bit 4 (refresh) toggles on every read, which BIOS delay loops wait for."""
    ports = (0x61,)

    def __init__(self):
        self.reset()

    def reset(self):
        self.value = 0x20

    def read(self, port, size):
        self.value ^= 0x10
        return self.value

    def write(self, port, size, value):
        self.value = (self.value & 0x30) | (value & 0x0F)


class Port92(Device):
    """System control port A (92h): bit 1 is A20 (on: Linux runs with it on), bit 0 the fast reset,
    which the refusal table catches before a write gets here."""
    ports = (0x92,)

    def __init__(self):
        self.reset()

    def reset(self):
        self.value = 0x02

    def read(self, port, size):
        return self.value

    def write(self, port, size, value):
        self.value = value & 0xFE


class Apm(Device):
    """APM control (B2h) and status (B3h): a write to B2h triggers an SMI on a real chipset (a hazard);
    here both just keep what was written."""
    ports = (0xB2, 0xB3)

    def __init__(self):
        self.reset()

    def reset(self):
        self.regs = {0xB2: 0, 0xB3: 0}

    def read(self, port, size):
        return self.regs[port]

    def write(self, port, size, value):
        self.regs[port] = value & 0xFF


class PciConfig(Device):
    """PCI configuration mechanism #1 at CF8h/CFCh-CFFh (PCI Local Bus 3.0, 3.2.2.3.2): bus 0's
    configuration spaces as the snapshot recorded them; every other bus, device or register beyond
    what was recorded reads all-ones (no device).  Writes change this run's copy only."""
    ports = (0xCF8, 0xCFC, 0xCFD, 0xCFE, 0xCFF)

    def __init__(self, spaces=None):
        self.recorded = {}
        for name, text in (spaces or {}).items():
            dev, fn = name.split(":")[1].split(".")
            self.recorded[(int(dev, 16), int(fn))] = bytes.fromhex(text)
        self.reset()

    def reset(self):
        self.address = 0
        self.spaces = {k: bytearray(v) for k, v in self.recorded.items()}

    def _space(self):
        if not self.address & 0x80000000 or (self.address >> 16) & 0xFF:
            return None
        return self.spaces.get(((self.address >> 11) & 0x1F, (self.address >> 8) & 7))

    def read(self, port, size):
        if port == 0xCF8:
            return self.address if size == 4 else ones(size)
        space, reg = self._space(), (self.address & 0xFC) + (port - 0xCFC)
        if space is None or reg + size > len(space):
            return ones(size)
        return int.from_bytes(space[reg:reg + size], "little")

    def write(self, port, size, value):
        if port == 0xCF8:
            if size == 4:
                self.address = value
            return
        space, reg = self._space(), (self.address & 0xFC) + (port - 0xCFC)
        if space is not None and reg + size <= len(space):
            space[reg:reg + size] = (value & ones(size)).to_bytes(size, "little")


class DebugLog(Device):
    """POST code port 80h and QEMU's debug console 402h (SeaBIOS's debug output): writes are kept."""
    ports = (0x80, 0x402)

    def __init__(self):
        self.reset()

    def reset(self):
        self.post, self.text = [], bytearray()

    def read(self, port, size):
        return 0xE9 if port == 0x402 else 0xFF    # QEMU's isa-debugcon answers its readback value

    def write(self, port, size, value):
        if port == 0x80:
            self.post.append(value)
        else:
            self.text.append(value & 0xFF)


class Vga(Device):
    """The VGA registers (3C0h-3CFh, 3B4h/3B5h/3D4h/3D5h, 3BAh/3DAh), as IBM's VGA Technical
    Reference defines them: indexed register files that keep what is written (attribute controller
    with its index/data flip-flop reset by reading input status 1, sequencer, graphics controller,
    CRTC), the DAC with its read/write indices and three-byte entries, and input status 1 whose
    retrace bits (0 and 3) toggle on every read so that wait-for-retrace loops end."""
    ports = tuple(range(0x3C0, 0x3D0)) + (0x3B4, 0x3B5, 0x3BA, 0x3D4, 0x3D5, 0x3DA)

    def __init__(self):
        self.reset()

    def reset(self):
        self.files = {"attr": bytearray(0x20), "seq": bytearray(8), "gfx": bytearray(9),
                      "crtc": bytearray(0x19)}
        self.index = {"attr": 0, "seq": 0, "gfx": 0, "crtc": 0}
        self.flip, self.misc, self.status, self.pel_mask = 0, 0x67, 0x00, 0xFF
        self.dac, self.dac_read, self.dac_write, self.dac_part = bytearray(768), 0, 0, 0

    def _indexed(self, port):
        return {0x3C4: "seq", 0x3C5: "seq", 0x3CE: "gfx", 0x3CF: "gfx", 0x3B4: "crtc", 0x3B5: "crtc",
                0x3D4: "crtc", 0x3D5: "crtc"}.get(port)

    def read(self, port, size):
        if size > 1:                               # a word access is two byte accesses
            return self.read(port, 1) | self.read(port + 1, size - 1) << 8
        name = self._indexed(port)
        if name:
            if port in (0x3C4, 0x3CE, 0x3B4, 0x3D4):
                return self.index[name]
            table = self.files[name]
            return table[self.index[name] % len(table)]
        if port in (0x3BA, 0x3DA):
            self.flip, self.status = 0, self.status ^ 0x09
            return self.status
        if port == 0x3C0:
            return self.index["attr"]
        if port == 0x3C1:
            return self.files["attr"][self.index["attr"] & 0x1F]
        if port == 0x3CC:
            return self.misc
        if port == 0x3C6:
            return self.pel_mask
        if port == 0x3C9:
            value = self.dac[(self.dac_read * 3 + self.dac_part) % 768]
            self.dac_part = (self.dac_part + 1) % 3
            self.dac_read += self.dac_part == 0
            return value
        return 0x00

    def write(self, port, size, value):
        if size > 1:
            self.write(port, 1, value & 0xFF)
            return self.write(port + 1, size - 1, value >> 8)
        value &= 0xFF
        name = self._indexed(port)
        if name:
            if port in (0x3C4, 0x3CE, 0x3B4, 0x3D4):
                self.index[name] = value
            else:
                table = self.files[name]
                table[self.index[name] % len(table)] = value
        elif port == 0x3C0:
            if self.flip == 0:
                self.index["attr"] = value
            else:
                self.files["attr"][self.index["attr"] & 0x1F] = value
            self.flip ^= 1
        elif port == 0x3C2:
            self.misc = value
        elif port == 0x3C6:
            self.pel_mask = value
        elif port in (0x3C7, 0x3C8):
            self.dac_part = 0
            if port == 0x3C7:
                self.dac_read = value
            else:
                self.dac_write = value
        elif port == 0x3C9:
            self.dac[(self.dac_write * 3 + self.dac_part) % 768] = value & 0x3F
            self.dac_part = (self.dac_part + 1) % 3
            self.dac_write += self.dac_part == 0


class BochsVbe(Device):
    """The Bochs/QEMU "dispi" interface (index 1CEh, data 1CFh) that SeaVGABIOS's bochsvga driver
    uses for VBE on QEMU's std VGA (QEMU hw/display/vga.c, VBE_DISPI_*): the ID register answers
    B0C5h, video memory 16 MiB (QEMU's default vgamem_mb) in 64 KiB units; other registers keep
    what is written."""
    ports = (0x1CE, 0x1CF, 0x1D0)
    ID, MEMORY_64K = 0xB0C5, 256

    def __init__(self):
        self.reset()

    def reset(self):
        self.index, self.regs = 0, [0] * 16
        self.regs[0], self.regs[10] = self.ID, self.MEMORY_64K
        self.regs[1:4] = [1024, 768, 8]            # VBE_DISPI_GETCAPS maxima are answered the same way

    def read(self, port, size):
        if port == 0x1CE:
            return self.index
        return self.regs[self.index] if self.index < 16 else ones(size)

    def write(self, port, size, value):
        if port == 0x1CE:
            self.index = value & 0xFFFF
        elif self.index < 16 and self.index not in (0, 10):
            self.regs[self.index] = value & 0xFFFF


def default_devices(meta=None):
    """A fresh port -> device map with every model above, fed by a snapshot's ``meta`` when given."""
    meta = meta or {}
    devices = [Cmos(_when(meta.get("date"))), Pit(), Pic(), Ps2(), SystemPort(), Port92(), Apm(),
               PciConfig(meta.get("pci")), DebugLog(), Vga(), BochsVbe()]
    out = {}
    for dev in devices:
        for port in dev.ports:
            out[port] = dev
    return out


def _when(text):
    try:
        return datetime.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
