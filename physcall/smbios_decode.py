"""A dmidecode-like summary of the SMBIOS structure types 0, 1, 2, 4 and 17 (DMTF DSP0134 3.x).

>>> hdr = bytes([0, 0x18, 0, 0]) + bytes([1, 2, 0, 0, 3]) + bytes(15)
>>> table = hdr + b"SeaBIOS\\0rel-1.16\\0" + b"04/01/2014\\0\\0" + bytes([127, 4, 0x7f, 0]) + b"\\0\\0"
>>> s = structures(table)
>>> s[0]["type"], strings_of(s[0])
(0, ['SeaBIOS', 'rel-1.16', '04/01/2014'])
"""

import struct

MEMORY_TYPES = {0x12: "DDR", 0x13: "DDR2", 0x18: "DDR3", 0x1A: "DDR4", 0x22: "DDR5", 0x07: "RAM",
                0x02: "Unknown", 0x01: "Other"}


def entry_point(entry):
    """Version, table address and length from the 32-bit ``_SM_`` or 64-bit ``_SM3_`` entry point."""
    if entry.startswith(b"_SM3_"):                       # section 5.2.2
        major, minor = entry[7], entry[8]
        length, address = struct.unpack_from("<IQ", entry, 0x0C)
    else:                                                # section 5.2.1
        major, minor = entry[6], entry[7]
        length, address = struct.unpack_from("<HI", entry, 0x16)
    return {"version": "%d.%d" % (major, minor), "table_address": address, "table_length": length,
            "checksum_ok": sum(entry[:entry[5] if entry.startswith(b"_SM_") else entry[6]]) % 256 == 0}


def structures(table):
    """Each structure as ``{"type", "handle", "data", "strings"}`` (section 6.1: formatted area, then
    the strings, each NUL-terminated, the set ended by a second NUL)."""
    out, at = [], 0
    while at + 4 <= len(table):
        kind, length, handle = struct.unpack_from("<BBH", table, at)
        if length < 4:
            break
        end = table.find(b"\0\0", at + length)
        if end < 0:
            break
        strings = table[at + length:end].split(b"\0") if end > at + length else []
        out.append({"type": kind, "handle": handle, "data": table[at:at + length],
                    "strings": [s.decode("ascii", "replace") for s in strings]})
        at = end + 2
        if kind == 127:                                  # end-of-table
            break
    return out


def strings_of(s):
    return list(s["strings"])


def _str(s, offset):
    """The string a structure's byte at ``offset`` numbers (1-based; 0 means none)."""
    data = s["data"]
    if offset >= len(data) or data[offset] == 0 or data[offset] > len(s["strings"]):
        return None
    return s["strings"][data[offset] - 1].strip()


def _word(s, offset):
    data = s["data"]
    return struct.unpack_from("<H", data, offset)[0] if offset + 2 <= len(data) else None


def bios(s):           # type 0, section 7.1
    return {"vendor": _str(s, 4), "version": _str(s, 5), "release_date": _str(s, 8)}


def system(s):         # type 1, section 7.2
    data = s["data"]
    return {"manufacturer": _str(s, 4), "product": _str(s, 5), "version": _str(s, 6),
            "serial": _str(s, 7), "uuid": data[8:24].hex() if len(data) >= 24 else None}


def board(s):          # type 2, section 7.3
    return {"manufacturer": _str(s, 4), "product": _str(s, 5), "version": _str(s, 6), "serial": _str(s, 7)}


def processor(s):      # type 4, section 7.5
    return {"socket": _str(s, 4), "manufacturer": _str(s, 7), "version": _str(s, 0x10),
            "max_speed_mhz": _word(s, 0x14), "current_speed_mhz": _word(s, 0x16),
            "cores": s["data"][0x23] if len(s["data"]) > 0x23 else None}


def memory_device(s):  # type 17, section 7.18
    size = _word(s, 0x0C)
    if size == 0x7FFF and len(s["data"]) >= 0x20:
        size_mb = struct.unpack_from("<I", s["data"], 0x1C)[0]
    elif size in (None, 0, 0xFFFF):
        size_mb = None if size else 0
    else:
        size_mb = size // 1024 if size & 0x8000 else size       # bit 15: KiB units
    kind = s["data"][0x12] if len(s["data"]) > 0x12 else None
    return {"size_mb": size_mb, "locator": _str(s, 0x10), "bank": _str(s, 0x11),
            "type": MEMORY_TYPES.get(kind, kind), "speed_mts": _word(s, 0x15), "manufacturer": _str(s, 0x17)}


DECODERS = {0: ("bios", bios), 1: ("system", system), 2: ("baseboard", board), 4: ("processors", processor),
            17: ("memory_devices", memory_device)}


def summary(entry, table, walked=None, types=None):
    """The entry point's facts and types 0, 1, 2 (one each) and 4, 17 (lists), from ``table``: the
    whole structure table, or (physcall explore) only the structures of those types, with ``walked``
    the count of all structures and ``types`` the type of each."""
    out = entry_point(entry)
    found = structures(table)
    out.update(structures=len(found) if walked is None else walked, table_copied=len(table),
               types=sorted({s["type"] for s in found} if types is None else set(types)))
    for kind, (key, decoder) in DECODERS.items():
        items = [decoder(s) for s in found if s["type"] == kind]
        out[key] = items if kind in (4, 17) else (items[0] if items else None)
    return out
