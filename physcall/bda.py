"""Where the BIOS keeps its memory below 640 KiB, as the BIOS Data Area says (Ralf Brown's Interrupt
List, MEMORY.LST "BIOS Data Area"): the one reader of the EBDA's place for the image, the pre-flight
checks and the emulator's owner map.

>>> bda = bytearray(0x100); bda[0x0E:0x10] = (0x9FC0).to_bytes(2, "little"); bda[0x13:0x15] = (639).to_bytes(2, "little")
>>> hex(ebda(bda)), hex(firmware_low(bda))
('0x9fc00', '0x9fc00')
"""

BDA, BDA_END = 0x400, 0x500     # the BDA's physical range; offsets below are into its 256 bytes
EBDA_SEGMENT = 0x0E             # word: the EBDA's segment
BASE_MEMORY_KIB = 0x13          # word: KiB of base memory, the EBDA and anything else of the BIOS above
LOW_LIMIT = 0xA0000             # VGA memory, then option ROMs and the system BIOS up to 1 MiB
VGA_RAM = (LOW_LIMIT, 0xC0000)  # the video card's window, which its BIOS writes
DEFAULT_EBDA = 0x9FC00          # 639 KiB of base memory: what SeaBIOS reports
_SANE = (0x80000, LOW_LIMIT)    # an EBDA sits just below 640 KiB; anything else is not a BDA's word


def _word(bda, offset):
    return int.from_bytes(bytes(bda[offset:offset + 2]), "little")


def ebda(bda):
    """The EBDA's physical address from the BDA's bytes (segment word 0Eh), or None when it names none."""
    at = _word(bda, EBDA_SEGMENT) << 4
    return at if _SANE[0] <= at < _SANE[1] else None


def ebda_range(low):
    """``(start, end)`` of the EBDA in ``low`` (the first MiB, by physical address), its size in KiB
    its first byte; None without an EBDA."""
    at = ebda(low[BDA:BDA_END])
    if at is None:
        return None
    return at, min(at + (low[at] or 1) * 1024, LOW_LIMIT)


def firmware_low(bda):
    """Where the BIOS's memory below 640 KiB begins: the lower of the EBDA and the end of base memory
    (word 13h), or None when neither is sane.  No kexec segment may reach it."""
    candidates = [a for a in (ebda(bda), _word(bda, BASE_MEMORY_KIB) << 10)
                  if a is not None and _SANE[0] <= a < _SANE[1]]
    return min(candidates) if candidates else None
