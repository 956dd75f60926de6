"""Timers and clocks: the 8254 PIT, port 61h and the MC146818 RTC/CMOS.

These are the devices a BIOS polls in loops, so the dry run also answers their ports in C
(csrc/ports.c): their state is a cffi struct declared in csrc/hostlib.h (``state``), which these models
and the C fast path both work on.  The rules are written twice, here and there, and
tests/test_ports.py holds the two against each other.
"""

import datetime

from ...abi import PIT_BIOS_MODE, constants
from ...hostlib import ffi
from ...resources import CSRC
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
        self.when = w = when or datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        bcd = lambda v: (v // 10) << 4 | v % 10                                  # noqa: E731
        self.state = s = ffi.new("struct pc_cmos *")
        clock = {0x00: w.second, 0x02: w.minute, 0x04: w.hour, 0x06: w.isoweekday() % 7 + 1,
                 0x07: w.day, 0x08: w.month, 0x09: w.year % 100, 0x32: w.year // 100}
        for k, v in clock.items():
            s.ram[k] = bcd(v)
        for k, v in self.STATUS.items():
            s.ram[k] = v
        self._initial = bytes(ffi.buffer(s))

    def reset(self):
        ffi.memmove(self.state, self._initial, len(self._initial))

    def read(self, port, size):
        s = self.state
        return s.index if port == 0x70 else s.ram[s.index]

    def write(self, port, size, value):
        s = self.state
        if port == 0x70:
            s.index = value & 0x7F               # bit 7 is the NMI mask, not part of the index
        else:
            s.ram[s.index] = value & 0xFF


class Pit(Device):
    """8254 PIT at 40h-43h (Intel 8254 data sheet): per-counter access mode (LSB, MSB, LSB then MSB),
    counter latch and read-back commands (count and status).  Counters move down a fixed step per
    read, so that delay loops that poll them end."""
    ports = (0x40, 0x41, 0x42, 0x43)
    STEP = constants(CSRC / "hostlib.h")["PC_PIT_STEP"]

    def __init__(self):
        self.state = s = ffi.new("struct pc_pit *")
        # channel 0 as the trampoline runs it for the firmware (SeaBIOS's pit_setup()), 1 and 2 as at boot
        for n, status in enumerate((PIT_BIOS_MODE & 0x3F, 0x74, 0xB6)):
            s.count[n], s.access[n], s.status[n] = 0xFFFF, 3, status
        self._initial = bytes(ffi.buffer(s))

    def reset(self):
        ffi.memmove(self.state, self._initial, len(self._initial))

    def read(self, port, size):
        if port == 0x43:
            return 0xFF                       # the mode register is write-only
        s, n = self.state, port - 0x40
        if s.status_latched[n]:                # a read-back's status first: OUT high, count loaded
            s.status_latched[n] = 0
            return 0x80 | s.status[n]
        if s.latched[n]:
            value = s.latch[n]
        else:
            s.count[n] = (s.count[n] - self.STEP) & 0xFFFF
            value = s.count[n]
        if s.access[n] == 1:
            out = value & 0xFF
        elif s.access[n] == 2:
            out = value >> 8
        else:
            out = (value >> (8 * s.flip[n])) & 0xFF
            s.flip[n] ^= 1
        if s.latched[n] and (s.access[n] != 3 or s.flip[n] == 0):
            s.latched[n] = 0
        return out

    def write(self, port, size, value):
        value &= 0xFF
        s = self.state
        if port != 0x43:
            n = port - 0x40
            if s.access[n] == 3:
                shift = 8 * s.flip[n]
                s.count[n] = (s.count[n] & ~(0xFF << shift) | value << shift) & 0xFFFF
                s.flip[n] ^= 1
            else:
                s.count[n] = value if s.access[n] == 1 else value << 8
            return
        n, access = value >> 6, (value >> 4) & 3
        if n == 3:                                # read-back: latch the counters named in bits 1-3,
            for i in range(3):                    # their count unless bit 5, their status unless bit 4
                if value & (2 << i):
                    if not value & 0x20:
                        self._latch(i)
                    if not value & 0x10:
                        s.status_latched[i] = 1
        elif access == 0:                         # counter latch command
            self._latch(n)
            s.flip[n] = 0
        else:
            s.access[n], s.flip[n], s.status[n] = access, 0, value & 0x3F


    def _latch(self, n):
        """The count has moved on since the last look (STEP, as a read moves it), so a delay loop that
        latches and reads sees time pass; a second latch before the first is read out is ignored
        (Intel 8254 data sheet, "Counter Latch Command").  csrc/ports.c pit_latch is the same."""
        s = self.state
        if not s.latched[n]:
            s.count[n] = (s.count[n] - self.STEP) & 0xFFFF
            s.latch[n], s.latched[n] = s.count[n], 1


class SystemPort(Device):
    """Port 61h: bit 4 (refresh) toggles on every read, which BIOS delay loops wait for."""
    ports = (0x61,)

    def __init__(self):
        self.state = ffi.new("struct pc_sysport *")
        self.state.value = 0x20

    def reset(self):
        self.state.value = 0x20

    def read(self, port, size):
        self.state.value ^= 0x10
        return self.state.value

    def write(self, port, size, value):
        self.state.value = (self.state.value & 0x30) | (value & 0x0F)
