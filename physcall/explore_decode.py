"""Decoders for ``physcall explore``: the bytes and registers of the survey batch -> a JSON-ready dict.

Top-level keys: ``bios``, ``memory``, ``e820``, ``e820_totals`` (bytes per type name), ``config_table``, ``apm``, ``vbe``, ``edid``,
``pci_bios``, ``edd``, ``smbios``, ``tables`` (physcall.explore adds ``backend`` and ``jumps``).  Each
item records the BIOS call that produced it (``"call"``); bytes are hex.
"""

import struct
from typing import NamedTuple

from . import explore as ex
from .regs import Regs
from .services import E820_TYPES

CONFIG_FEATURES = {  # RBIL INT 15/AH=C0h, feature byte 1
    0x02: "micro channel", 0x04: "EBDA allocated", 0x08: "wait for external event",
    0x10: "int 15h/4Fh keyboard intercept", 0x20: "RTC installed", 0x40: "second 8259",
    0x80: "DMA channel 3 used by hard disk BIOS"}
VBE_MODELS = {0: "text", 1: "CGA", 2: "Hercules", 3: "planar", 4: "packed pixel", 5: "non-chain 4",
              6: "direct color", 7: "YUV"}


class Answer(NamedTuple):
    """One BIOS call inside the survey routine: its registers after the call, and what it was."""
    regs: Regs
    call: str


def answers(block):
    """Each record of the real-mode block (physcall.explore.RECORDS) as an Answer."""
    out = {}
    for i, name in enumerate(ex.RECORDS):
        values = struct.unpack_from("<6I3H", block, ex.RECORD * i)
        regs = dict(zip(("eax", "ebx", "ecx", "edx", "esi", "edi", "ds", "es", "eflags"), values))
        out[name] = Answer(Regs(**regs), ex.CALLS[name])
    return out


def decode(real, flat):
    """The survey from the two calls' Outcomes: the real-mode block and the flat copies."""
    block, copies = real.buffers["es_di"], flat.buffers["edi"]
    a = answers(block)
    entries = e820(a["e820"], block)
    return {"bios": bios(copies), "memory": memory(a), "e820": entries, "e820_totals": e820_totals(entries),
            "config_table": config_table(a["config_table"], block), "apm": apm(a["apm"]),
            "vbe": vbe(a["vbe"], block), "edid": edid(a["edid"], block), "pci_bios": pci_bios(a["pci_bios"]),
            "edd": edd(a, block, copies[ex.FLAT_LOW + 0x75]), "smbios": smbios(flat),
            "tables": tables(copies)}


def bios(copies):
    """The BIOS date at F000:FFF5, the model byte at F000:FFFE and the strings of the F segment that
    name the BIOS (the rule is the routine's: physcall.explore, FLAT_STRINGS_SCAN)."""
    top = copies[ex.FLAT_TOP:ex.FLAT_TOP + 16]
    strings = []
    for i in range(ex.STRINGS):
        slot = copies[ex.FLAT_STRINGS + ex.STRING_SLOT * i:][:ex.STRING_SLOT]
        offset, length = struct.unpack_from("<HH", slot)
        if length:
            strings.append({"offset": 0xF0000 + offset, "length": length,
                            "text": bytes(slot[4:4 + min(length, ex.STRING_SLOT - 4)]).decode("ascii", "replace")})
    return {"call": "flat32 scan of F0000h-FFFFFh", "date": top[5:13].decode("ascii", "replace"),
            "model": top[14], "strings": [s["text"] for s in strings], "string_places": strings}


def memory(a):
    e801 = a["e801"].regs
    return {"int12_kib": a["int12"].regs.ax, "int12_call": a["int12"].call,
            "int11_equipment": a["int11"].regs.ax, "int11_call": a["int11"].call,
            "e801": None if e801.cf else {"kib_1m_16m": e801.ax, "blocks_64k_above_16m": e801.bx,
                                           "configured_kib": e801.cx, "configured_blocks": e801.dx},
            "e801_call": a["e801"].call,
            "int15_88_kib": None if a["ext88"].regs.cf else a["ext88"].regs.ax,
            "int15_88_call": a["ext88"].call}


def e820(answer, block):
    raw, count = block[ex.E820_AT:ex.C0_AT], min(answer.regs.ax, ex.E820_MAX)
    entries = []
    for i in range(count):
        base, length, kind = struct.unpack_from("<QQI", raw, 24 * i)
        entries.append({"base": base, "length": length, "type": kind,
                        "type_name": E820_TYPES.get(kind, "type %d" % kind), "call": answer.call})
    return entries


def e820_totals(entries):
    """Bytes per type name: ``{"usable": ..., "reserved": ...}``."""
    totals = {}
    for e in entries:
        totals[e["type_name"]] = totals.get(e["type_name"], 0) + e["length"]
    return totals


def config_table(answer, block):
    raw = block[ex.C0_AT:ex.EDID_AT]
    if answer.regs.ah != 0 or answer.regs.cf:
        return {"call": answer.call, "present": False}
    length, model, submodel, revision = struct.unpack_from("<HBBB", raw)
    features = raw[5:10]
    return {"call": answer.call, "present": True, "length": length, "model": model,
            "submodel": submodel, "revision": revision, "features": features.hex(),
            "feature_names": [name for bit, name in CONFIG_FEATURES.items() if features[0] & bit]}


def apm(answer):
    r = answer.regs
    if r.cf or r.bx != 0x504D:                     # "PM": APM 1.2 section 4.6, 5300h
        return {"call": answer.call, "present": False, "error": r.ah}
    return {"call": answer.call, "present": True, "version": "%d.%d" % (r.ah, r.al), "flags": r.cx}


def vbe(answer, block):
    info, r = block[ex.VBE_AT:ex.OEM_AT], answer.regs
    if r.ax != 0x004F:
        return {"call": answer.call, "present": False, "status": r.ax}
    version, total = struct.unpack_from("<H", info, 4)[0], struct.unpack_from("<H", info, 18)[0]
    words = struct.unpack("<256H", block[ex.MODES_AT:ex.SCRATCH_AT])
    listed = list(words[:words.index(0xFFFF)] if 0xFFFF in words else words)
    infos, kept = block[ex.INFOS_AT:ex.BLOCK], ex.MODE_KEPT
    modes = [mode_info(m, infos[kept * i:kept * (i + 1)]) for i, m in enumerate(listed[:min(r.bx, ex.MAX_MODES)])]
    return {"call": answer.call, "present": True, "version": version,
            "version_text": "%d.%d" % (version >> 8, version & 0xFF),
            "oem": block[ex.OEM_AT:ex.MODES_AT].split(b"\0", 1)[0].decode("ascii", "replace"),
            "total_memory_kib": total * 64, "modes": modes}


def mode_info(number, packed):
    """VBE 3.0 section 4.4, ModeInfoBlock: the fields physcall.explore.MODE_FIELDS packed."""
    fields, at = {}, 0
    for name, _, size in ex.MODE_FIELDS:
        fields[name] = int.from_bytes(packed[at:at + size], "little")
        at += size
    model, attributes = fields["memory_model"], fields["attributes"]
    return {"mode": number, "width": fields["width"], "height": fields["height"], "bpp": fields["bpp"],
            "memory_model": model, "memory_model_name": VBE_MODELS.get(model, "model %d" % model),
            "lfb": fields["lfb"], "attributes": attributes, "graphics": bool(attributes & 0x10)}


def edid(answer, block):
    block = block[ex.EDID_AT:ex.EDID_AT + 128]
    ok = answer.regs.ax == 0x004F
    out = {"call": answer.call, "status": answer.regs.ax, "hex": block.hex() if ok else None}
    if not ok:
        return out
    out["header_ok"] = block[:8] == b"\x00\xff\xff\xff\xff\xff\xff\x00"
    out["checksum_ok"] = sum(block) % 256 == 0
    word, = struct.unpack_from(">H", block, 8)                 # EDID 1.4 section 3.4: 3 x 5-bit letters
    out["manufacturer"] = "".join(chr(64 + ((word >> s) & 0x1F)) for s in (10, 5, 0))
    out["product"], out["serial"] = struct.unpack_from("<HI", block, 10)
    out["year"], out["version"] = 1990 + block[17], "%d.%d" % (block[18], block[19])
    dtd = block[54:72]                                          # section 3.10.2: first detailed timing
    clock, = struct.unpack_from("<H", dtd, 0)
    if clock:
        out["preferred"] = {"pixel_clock_khz": clock * 10, "width": dtd[2] | (dtd[4] & 0xF0) << 4,
                            "height": dtd[5] | (dtd[7] & 0xF0) << 4}
    return out


def pci_bios(answer):
    r = answer.regs
    present = not r.cf and r.ah == 0 and r.edx == 0x20494350   # "PCI "
    out = {"call": answer.call, "present": present}
    if present:
        out.update(version="%x.%02x" % (r.bh, r.bl), last_bus=r.cl, mechanism=r.al)
    return out


def edd(a, block, disk_count):
    """Int 13h 41h and 48h for each hard disk the BDA counts (EDD 3.0 sections 7.1 and 7.3)."""
    drives = []
    for i, drive in enumerate(ex.EDD_DRIVES[:disk_count]):
        check, params = a["edd41:%02x" % drive], a["edd48:%02x" % drive]
        item = {"drive": drive, "call": "%s; %s" % (check.call, params.call),
                "present": not check.regs.cf and check.regs.bx == 0xAA55}
        if item["present"]:
            item.update(version=check.regs.ah, support=check.regs.cx)
        if not params.regs.cf:
            raw = block[ex.EDD_AT + ex.EDD_STRIDE * i:][:ex.EDD_RESULT]
            size, flags, cyl, heads, spt, sectors, bps = struct.unpack_from("<HHIIIQH", raw)
            item["params"] = {"size": size, "flags": flags, "cylinders": cyl, "heads": heads,
                              "sectors_per_track": spt, "sectors": sectors, "bytes_per_sector": bps}
        drives.append(item)
    return {"bda_hard_disks": disk_count, "drives": drives}


def smbios(flat):
    from .smbios_decode import summary
    copies, kept_area = flat.buffers["edi"], flat.buffers["ebp"]
    length = min(flat.regs.eax, 64)
    entry = copies[ex.FLAT_ENTRY:ex.FLAT_ENTRY + length]
    out = {"call": "flat32 scan of F0000h-FFFFFh for _SM_/_SM3_, then a copy of its structure table "
                   "(a walk that keeps types %s when it is longer than %d bytes)"
                   % (", ".join(map(str, ex.SMBIOS_DECODED)), ex.SMBIOS_WHOLE),
           "present": bool(length), "entry_point": entry.hex()}
    if length and flat.regs.ecx == ex.SMBIOS_COPIED:
        out.update(summary(entry, kept_area[:min(flat.regs.ebx, ex.SMBIOS_WHOLE)]))
    elif length:
        walked, kept = flat.regs.ecx, min(flat.regs.ebx, ex.SMBIOS_KEPT)
        types = kept_area[8:8 + min(walked, ex.SMBIOS_TYPES)]
        out.update(summary(entry, kept_area[ex.SMBIOS_AT:ex.SMBIOS_AT + kept], walked, types))
    return out


def tables(copies):
    """RSDP, $PIR, _MP_, $PnP and _32_ headers: where the routine found each first (16-byte boundaries
    of the EBDA's first KiB, then of the F segment) and what its bytes say."""
    found = {}
    for i, name in enumerate(ex.ANCHORS):
        address, copied = struct.unpack_from("<II", copies, ex.FLAT_ANCHORS + 8 * i)
        if address:
            start = ex.FLAT_ANCHOR_DATA + ex.ANCHOR_SLOT * i
            found[name] = _table(name, bytes(copies[start:start + copied]), address)
    found["call"] = "flat32 scan of the EBDA's first KiB and F0000h-FFFFFh"
    return found


def _sum_ok(data, size):
    """Whether the first ``size`` bytes add up to 0 mod 256; None when fewer came back."""
    return sum(data[:size]) % 256 == 0 if len(data) >= size else None


def _table(name, data, address):
    """What each header says about itself (the specs named per branch) and whether its checksum adds up."""
    if name == "rsdp":                  # ACPI 6.x section 5.2.5.3
        revision = data[15]
        size = 36 if revision >= 2 else 20
        return {"address": address, "oem": data[9:15].decode("ascii", "replace"), "revision": revision,
                "rsdt": struct.unpack_from("<I", data, 16)[0], "checksum_ok": _sum_ok(data, 20),
                "hex": bytes(data[:size]).hex()}
    if name == "pir":                   # Microsoft PCI IRQ Routing Table Specification 1.0
        size, = struct.unpack_from("<H", data, 6)
        return {"address": address, "version": "%d.%d" % (data[5], data[4]), "size": size,
                "slots": max(0, (size - 32) // 16), "checksum_ok": _sum_ok(data, size)}
    if name == "mp":                    # Intel MP 1.4 section 4.1
        return {"address": address, "config_table": struct.unpack_from("<I", data, 4)[0],
                "spec_rev": "1.%d" % data[9], "checksum_ok": _sum_ok(data, 16 * data[8])}
    if name == "pnp":                   # Plug and Play BIOS 1.0A section 4.4
        return {"address": address, "version": "%d.%d" % (data[4] >> 4, data[4] & 0xF), "length": data[5],
                "checksum_ok": _sum_ok(data, data[5])}
    return {"address": address, "entry": struct.unpack_from("<I", data, 4)[0],   # BIOS32 SD 0.4
            "revision": data[8], "checksum_ok": _sum_ok(data, 16 * data[9])}
