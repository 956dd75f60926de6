"""Timers and clocks: the 8254 PIT, port 61h and the MC146818 RTC/CMOS."""

import datetime

from .base import Device


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


class SystemPort(Device):
    """Port 61h: bit 4 (refresh) toggles on every read, which BIOS delay loops wait for."""
    ports = (0x61,)

    def reset(self):
        self.value = 0x20

    def read(self, port, size):
        self.value ^= 0x10
        return self.value

    def write(self, port, size, value):
        self.value = (self.value & 0x30) | (value & 0x0F)
