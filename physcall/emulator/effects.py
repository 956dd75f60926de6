"""Port writes judged by what they do, and the places control must never reach.

The dry run answers every port from a model, so a write that resets, powers off or unmaps memory on
a real machine would pass unseen.  ``PortEffects`` follows the few ports whose writes can do that,
with the state their protocols need (the 8042's output port is written in two steps), and says why a
write is harmful; a harmful write is refused on every backend (the hazards ruling, issue 10):

- 0CF9h, the reset control register (Intel ICH/PCH datasheets, "Reset Control Register"; QEMU's
  PIIX3/ICH9): bit 2 (RST_CPU) starts a reset; bit 3 (FULL_RST) makes it a power cycle.
- the 8042 keyboard controller (IBM PC AT Technical Reference, "Keyboard Controller"): a command
  F0h-FFh with bit 0 clear pulses the CPU reset line; D1h then a byte to 60h writes the output port,
  where bit 0 clear is a reset and bit 1 clear turns A20 off; DDh turns A20 off (HP/Phoenix).
- port 92h, System Control Port A (PS/2 Technical Reference): bit 0 is the fast reset, bit 1 is A20.
  It reads back 02h here (A20 on, no reset), as on the machines physcall runs on.
- the ACPI PM1a/PM1b control blocks (ACPI 6.5, 4.8.3.2.1 "PM1 Control Registers"): SLP_EN (bit 13)
  puts the machine to sleep in the state SLP_TYP names; S5 is off.  Their ports come from the FADT
  (PM1a_CNT_BLK at offset 64, PM1b_CNT_BLK at 68) when the firmware image holds one, and the common
  ones too: QEMU pc (PIIX4 PM base B000h, or 600h as this SeaBIOS sets it), QEMU q35 and Intel ICH
  (base 600h, 400h, 1800h), AMD FCH (800h).

``control_watch`` gives the addresses whose execution is refused whatever path leads there (a
``pushf; call far`` through the IVT as much as ``int``): the int 19h and int 18h handlers, the reset
vector F000:FFF0 (and its 4 GiB alias), and the int 15h handler entered with AX=5307h (APM set power
state) or AX=2400h (A20 off).

>>> e = PortEffects([0xB004])
>>> e.write(0x64, 1, 0xD1), e.write(0x60, 1, 0xDD)
(None, '8042 output port ddh (written after command d1h): bit 1 clear turns A20 off (memory above 1 MiB aliases)')
>>> e.read(0x92, 1), e.write(0xB004, 2, 0x3C00 | 0x2000) is not None
(2, True)
"""

import struct

# PM1_CNT addresses: PM base + 4 for the chipsets above (PM1b is rare; listed by the FADT)
COMMON_PM1_CNT = (0xB004, 0x604, 0x404, 0x1804, 0x804)
SLP_EN = 1 << 13
A20_OFF = "turns A20 off (memory above 1 MiB aliases)"


class PortEffects:
    """State of the harmful-write protocols over one call; ``write`` -> why harmful, or None."""

    def __init__(self, pm1_ports=COMMON_PM1_CNT):
        self.pm1 = tuple(pm1_ports)
        self.reset()

    def reset(self):
        self.kbc_command = None          # the 8042 command whose data byte goes to port 60h next
        self.port92 = 0x02               # A20 on

    def read(self, port, size):
        """The value of a port this model owns (92h), or None."""
        if port == 0x92:                 # a wider read: port 93h and up have nothing behind them
            return self.port92 | (((1 << (8 * size)) - 1) & ~0xFF)
        return None

    def judges(self, port):
        """True when a byte written to ``port`` may be harmful or feeds a protocol here (so it must
        reach ``write``; the C port fast path leaves these to Python)."""
        return port in (0xCF9, 0x64, 0x60, 0x92) or any(port in (b, b + 1) for b in self.pm1)

    def write(self, port, size, value):
        for offset in range(size):                      # byte by byte: `out dx, ax` spans two ports
            why = self._byte(port + offset, (value >> (8 * offset)) & 0xFF, port, size, value)
            if why:
                return why
        return None

    def _byte(self, port, byte, first, size, value):
        if port == 0xCF9 and not (first == 0xCF8 and size == 4):   # a dword at CF8h is the PCI address
            if byte & 0x04:
                return "reset control register 0cf9h = %02xh (bit 2, RST_CPU): resets the machine" % byte
        if port == 0x64:
            self.kbc_command = byte if byte in (0xD1, 0x60, 0xD2, 0xD3, 0xD4) else None
            if byte & 0xF0 == 0xF0 and not byte & 0x01:
                return "8042 command %02xh pulses the CPU reset line: resets the machine" % byte
            if byte == 0xDD:
                return "8042 command ddh " + A20_OFF
        if port == 0x60 and self.kbc_command is not None:
            command, self.kbc_command = self.kbc_command, None
            if command == 0xD1 and not byte & 0x01:
                return "8042 output port %02xh (written after command d1h): bit 0 clear resets the " \
                       "machine" % byte
            if command == 0xD1 and not byte & 0x02:
                return "8042 output port %02xh (written after command d1h): bit 1 clear %s" % (byte, A20_OFF)
        if port == 0x92:
            if byte & 0x01:
                return "port 92h = %02xh (bit 0, fast reset): resets the CPU" % byte
            if not byte & 0x02:
                return "port 92h = %02xh (bit 1 clear) %s" % (byte, A20_OFF)
            self.port92 = byte
        for base in self.pm1:
            if port in (base, base + 1):
                word = (byte << 8) if port == base + 1 else byte
                if word & SLP_EN or (size >= 2 and port == first and value & SLP_EN):
                    return "ACPI PM1 control %04xh = %#x (SLP_EN, SLP_TYP %d): sleeps or powers off " \
                           "the machine" % (base, value, (value >> 10) & 7 if port == first else 0)
        return None


def pm1_ports(firmware):
    """PM1a/PM1b control ports from the FADT the firmware image holds, and the common ones: a write
    with SLP_EN to a common address is refused even where the FADT names another (QEMU's pc machine
    is at B004h or 604h depending on the firmware that set it up), a false refusal being cheap."""
    found = []
    for _, data in getattr(firmware, "high", ()):
        at = bytes(data).find(b"FACP")
        if at >= 0 and len(data) >= at + 72:
            pm1a, pm1b = struct.unpack_from("<II", data, at + 64)
            found += [p for p in (pm1a, pm1b) if 0 < p < 0x10000]
    return tuple(dict.fromkeys(found + list(COMMON_PM1_CNT)))


def control_watch(low):
    """{linear address: [check(machine, call) -> why or None]}: the places control must not reach,
    and the service entries whose parameters are checked (physcall/emulator/leaves.py), from the
    firmware's IVT (``low`` is its first MiB).  A handler other vectors share (a default ``iret``) is
    not watched: reaching it proves nothing (``int 18h``/``19h`` and AX=5307h are refused at the
    ``int`` anyway)."""
    from .leaves import disk_check, move_check
    entries = [struct.unpack_from("<HH", low, 4 * v) for v in range(256)]

    def handler(vector):
        if entries.count(entries[vector]) > 1:
            return None
        off, seg = entries[vector]
        return (seg << 4) + off

    watch = {}

    def add(address, check):
        if address is not None:
            watch.setdefault(address, []).append(check)

    add(0xFFFF0, _always("the reset vector f000:fff0: resets the machine"))
    add(0xFFFFFFF0, _always("the reset vector fffffff0h: resets the machine"))
    add(handler(0x19), _always("the int 19h handler (bootstrap loader): reboots"))
    add(handler(0x18), _always("the int 18h handler (boot failure / ROM BASIC): does not return"))
    add(handler(0x15), _with_ax("the int 15h handler", {
        0x5307: "with ax=5307h (APM set power state): suspends or powers off the machine",
        0x2400: "with ax=2400h: " + A20_OFF}))
    add(handler(0x15), move_check)
    add(handler(0x13), disk_check)
    return watch


def _always(why):
    return lambda machine, call: "control reached " + why


def _with_ax(what, leaves):
    def check(machine, call):
        from unicorn import x86_const as X
        leaf = leaves.get(machine.uc.reg_read(X.UC_X86_REG_EAX) & 0xFFFF)
        return "control reached %s %s" % (what, leaf) if leaf else None
    return check
