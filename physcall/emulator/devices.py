"""Small port device models: enough of a PC's I/O space that BIOS code polling it gets sane answers.

A device has ``read(port, size) -> int``, ``write(port, size, value)`` and ``reset()``; ``default_devices()``
maps each port to one.  Ports nobody models read as all-ones, as an ISA bus with nothing on it answers.

>>> d = default_devices()
>>> d[0x70].write(0x70, 1, 0x0A); hex(d[0x71].read(0x71, 1) & 0x7F)     # RTC status A: divider
'0x26'
>>> hex(d[0xCFC].read(0xCFC, 4))                                          # PCI: no device
'0xffffffff'
"""

import logging

log = logging.getLogger("physcall.emulator")


class Device:
    """Base: all-ones reads, ignored writes."""
    ports = ()

    def read(self, port, size):
        return (1 << (8 * size)) - 1

    def write(self, port, size, value):
        pass

    def reset(self):
        pass


class Cmos(Device):
    """MC146818 RTC/CMOS at 70h/71h: a fixed date (2024-01-01 00:00:00, BCD) and the status registers.

    Status A 26h (32.768 kHz divider, UIP clear), B 02h (24-hour, BCD), D 80h (battery good):
    the values SeaBIOS's rtc_setup() leaves (src/hw/rtc.c).
    """
    ports = (0x70, 0x71)
    FIXED = {0x00: 0x00, 0x02: 0x00, 0x04: 0x00, 0x06: 0x02, 0x07: 0x01, 0x08: 0x01, 0x09: 0x24,
             0x0A: 0x26, 0x0B: 0x02, 0x0C: 0x00, 0x0D: 0x80, 0x32: 0x20}

    def reset(self):
        self.index, self.ram = 0, bytearray(128)
        for k, v in self.FIXED.items():
            self.ram[k] = v

    def __init__(self):
        self.reset()

    def read(self, port, size):
        return self.index if port == 0x70 else self.ram[self.index]

    def write(self, port, size, value):
        if port == 0x70:
            self.index = value & 0x7F            # bit 7 is the NMI mask, not part of the index
        else:
            self.ram[self.index] = value & 0xFF


class Pit(Device):
    """8254 PIT at 40h-43h: counters that move by a fixed step per read, so delay loops end."""
    ports = (0x40, 0x41, 0x42, 0x43)

    def __init__(self):
        self.reset()

    def reset(self):
        self.count = 0xFFFF

    def read(self, port, size):
        if port == 0x43:
            return 0xFF
        self.count = (self.count - 0x111) & 0xFFFF
        return self.count & 0xFF


class Keyboard(Device):
    """8042 at 60h/64h: output buffer empty, input buffer empty, system flag set (status 14h)."""
    ports = (0x60, 0x64)

    def read(self, port, size):
        return 0x14 if port == 0x64 else 0x00


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


class PciConfig(Device):
    """PCI configuration mechanism #1 at CF8h/CFCh: no device anywhere (reads of data give all-ones)."""
    ports = (0xCF8, 0xCF9, 0xCFA, 0xCFB, 0xCFC, 0xCFD, 0xCFE, 0xCFF)

    def __init__(self):
        self.reset()

    def reset(self):
        self.address = 0

    def read(self, port, size):
        if port == 0xCF8 and size == 4:
            return self.address
        return (1 << (8 * size)) - 1

    def write(self, port, size, value):
        if port == 0xCF8 and size == 4:
            self.address = value


class DebugLog(Device):
    """POST code port 80h and SeaBIOS's debug console 402h: writes are kept (text for 402h)."""
    ports = (0x80, 0x402)

    def __init__(self):
        self.reset()

    def reset(self):
        self.post, self.text = [], bytearray()

    def write(self, port, size, value):
        if port == 0x80:
            self.post.append(value)
        else:
            self.text.append(value & 0xFF)


def default_devices():
    """A fresh port -> device map with every model above."""
    out = {}
    for cls in (Cmos, Pit, Keyboard, SystemPort, PciConfig, DebugLog):
        dev = cls()
        for port in cls.ports:
            out[port] = dev
    return out
