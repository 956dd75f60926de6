"""BIOS services judged by what they do: the read-only leaves, and the ones that write.

The stub BIOS answers a leaf it has no model for with CF=1, AH=86h, which says nothing of what the
real firmware would do with it.  So on the stub an unmodelled leaf is refused unless ``READ_ONLY`` names
it (a leaf that only reports, from Ralf Brown's Interrupt List); on a snapshot it is the real firmware
that runs, and an unknown leaf stays a hazard (physcall/emulator/hazards.py).

Services that write memory or disks are checked at the entry of their handler, whatever path leads
there, through their parameters:

- int 13h AH=02h (read sectors) writes AL x 512 bytes at ES:BX; AH=42h (extended read) writes
  count x 512 bytes where its disk address packet at DS:SI says (EDD 3.0, 4.1): both must land in the
  call's buffers, stack or the firmware's writable areas;
- int 13h AH=03h, 05h-07h, 0Bh, 43h write or format a disk: refused, the dry run cannot vouch for it;
- int 15h AH=87h (block move, RBIL "INT 15 - SYSTEM - COPY EXTENDED MEMORY") copies CX words to the
  base of the descriptor at ES:SI+18h: that range must be writable by the call.

>>> read_only(0x13, 0x0800), read_only(0x13, 0x0300), read_only(0x1A, 0xB10C)
(True, False, False)
"""

import struct

from ..ranges import contains

READ_ONLY = {
    0x10: {0x03: None, 0x08: None, 0x0D: None, 0x0F: None, 0x1A: {0x00}, 0x1B: None, 0x4F: {0x00, 0x01, 0x03, 0x15}},
    0x11: None,
    0x12: None,
    0x13: {0x01: None, 0x08: None, 0x10: None, 0x15: None, 0x41: None, 0x48: None},
    0x14: {0x03: None},
    0x15: {0x24: {0x02, 0x03}, 0x53: {0x00, 0x0A, 0x0B}, 0x88: None, 0x8A: None, 0xC0: None, 0xC1: None, 0xE8: {0x01, 0x20, 0x81}},
    0x16: {0x01: None, 0x02: None, 0x11: None, 0x12: None},
    0x17: {0x02: None},
    0x1A: {0x00: None, 0x02: None, 0x04: None, 0xB1: {0x01, 0x02, 0x03, 0x08, 0x09, 0x0A}},
}
DISK_WRITES = {0x03: "write sectors", 0x05: "format track", 0x06: "format track, set bad sectors",
               0x07: "format drive", 0x0B: "write long", 0x43: "extended write"}


def read_only(vector, ax):
    """True when ``int vector`` with AX only reports (READ_ONLY)."""
    if vector not in READ_ONLY:
        return False
    leaves = READ_ONLY[vector]
    if leaves is None:
        return True
    ah, al = ax >> 8, ax & 0xFF
    if ah not in leaves:
        return False
    return leaves[ah] is None or al in leaves[ah]


def disk_check(machine, call):
    """int 13h handler entry: refuse disk writes; check where reads write memory."""
    uc, regs = machine.uc, _regs(machine)
    ah, al = regs["ax"] >> 8, regs["ax"] & 0xFF
    if ah in DISK_WRITES:
        return "int 13h ah=%02xh (%s) writes to drive %02xh: the dry run cannot vouch for a disk " \
               "write" % (ah, DISK_WRITES[ah], regs["dx"] & 0xFF)
    if ah == 0x02:
        return _lands(machine, call, "int 13h ah=02h (read %d sectors)" % al, (regs["es"] << 4) + regs["bx"],
                      al * 512)
    if ah == 0x42:
        packet = (regs["ds"] << 4) + regs["si"]
        count, off, seg = struct.unpack("<HHH", bytes(uc.mem_read(packet + 2, 6)))
        dest = (seg << 4) + off
        if (off, seg) == (0xFFFF, 0xFFFF):
            dest = struct.unpack("<Q", bytes(uc.mem_read(packet + 16, 8)))[0]
        return _lands(machine, call, "int 13h ah=42h (extended read of %d sectors)" % count, dest, count * 512)
    return None


def move_check(machine, call):
    """int 15h handler entry with AH=87h: the block move's destination must be writable."""
    regs = _regs(machine)
    if regs["ax"] >> 8 != 0x87:
        return None
    gdt = (regs["es"] << 4) + regs["si"]
    desc = bytes(machine.uc.mem_read(gdt + 0x18, 8))
    dest = desc[2] | desc[3] << 8 | desc[4] << 16 | desc[7] << 24
    return _lands(machine, call, "int 15h ah=87h (block move of %d words)" % regs["cx"], dest, 2 * regs["cx"])


def _lands(machine, call, what, start, size):
    if size == 0 or contains(call.allowed, start, size):
        return None
    return "%s would write %#x-%#x: outside the call's buffers, stack and the firmware's writable " \
           "areas" % (what, start, start + size)


def _regs(machine):
    return {name: value & 0xFFFF for name, value in machine.registers(LEAF_REGS).read().items()}


LEAF_REGS = ("ax", "bx", "cx", "dx", "si", "ds", "es")     # what the checks above read, as one set


# Checked at ``int n`` too, so that a firmware whose handlers share an address is still checked
SERVICE_CHECKS = {0x13: (disk_check,), 0x15: (move_check,)}
