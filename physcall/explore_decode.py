"""Decoders for ``physcall explore``: the bytes and registers of the survey batch -> a JSON-ready dict.

Top-level keys: ``bios``, ``memory``, ``e820``, ``config_table``, ``apm``, ``vbe``, ``edid``,
``pci_bios``, ``edd``, ``smbios``, ``tables`` (physcall.explore adds ``backend`` and ``jumps``).  Each
item records the call that produced it (``"call"``); bytes are hex.
"""

import re
import struct

from .services import E820_TYPES

CONFIG_FEATURES = {  # RBIL INT 15/AH=C0h, feature byte 1
    0x02: "micro channel", 0x04: "EBDA allocated", 0x08: "wait for external event",
    0x10: "int 15h/4Fh keyboard intercept", 0x20: "RTC installed", 0x40: "second 8259",
    0x80: "DMA channel 3 used by hard disk BIOS"}
VBE_MODELS = {0: "text", 1: "CGA", 2: "Hercules", 3: "planar", 4: "packed pixel", 5: "non-chain 4",
              6: "direct color", 7: "YUV"}
ANCHORS = {b"RSD PTR ": "rsdp", b"$PIR": "pir", b"_MP_": "mp", b"$PnP": "pnp", b"_32_": "bios32"}


def decode(out):
    """``out`` maps each item name of physcall.explore.survey_calls to its Result."""
    fseg = out["fseg"].buffers["edi"]
    low = out["low"].buffers["edi"]
    return {"bios": bios(out["fseg"], fseg), "memory": memory(out),
            "e820": e820(out["e820"]), "config_table": config_table(out["config_table"]),
            "apm": apm(out["apm"]), "vbe": vbe(out["vbe"]), "edid": edid(out["edid"]),
            "pci_bios": pci_bios(out["pci_bios"]), "edd": edd(out, low[0x75]),
            "smbios": smbios(out["smbios"]), "tables": tables(out, fseg, low)}


def _call(result):
    """The call as a person would write it: ``int 15h ax=e801h``."""
    call = result.call
    if call.kind == "int":
        return "int %02xh ax=%04xh" % (call.vector, call.regs.ax)
    return call.describe()


def bios(result, fseg):
    """The BIOS date at F000:FFF5, the model byte at F000:FFFE and the F segment's vendor strings."""
    strings = [s.decode() for s in re.findall(rb"[\x20-\x7e]{6,}", fseg)]
    vendor = [s for s in strings if re.search(r"bios|version|copyright|\(c\)", s, re.I) and "%" not in s][:8]
    return {"call": _call(result), "date": fseg[0xFFF5:0xFFFD].decode("ascii", "replace"),
            "model": fseg[0xFFFE], "strings": vendor}


def memory(out):
    e801 = out["e801"].regs
    return {"int12_kib": out["int12"].regs.ax, "int12_call": _call(out["int12"]),
            "int11_equipment": out["int11"].regs.ax, "int11_call": _call(out["int11"]),
            "e801": None if e801.cf else {"kib_1m_16m": e801.ax, "blocks_64k_above_16m": e801.bx,
                                           "configured_kib": e801.cx, "configured_blocks": e801.dx},
            "e801_call": _call(out["e801"]),
            "int15_88_kib": None if out["ext88"].regs.cf else out["ext88"].regs.ax,
            "int15_88_call": _call(out["ext88"])}


def e820(result):
    raw, count = result.buffers["es_di"], result.regs.ax
    entries = []
    for i in range(count):
        base, length, kind = struct.unpack_from("<QQI", raw, 24 * i)
        entries.append({"base": base, "length": length, "type": kind,
                        "type_name": E820_TYPES.get(kind, "type %d" % kind), "call": "e820 walk (int 15h)"})
    return entries


def e820_totals(entries):
    """Bytes per type name: ``{"usable": ..., "reserved": ...}``."""
    totals = {}
    for e in entries:
        totals[e["type_name"]] = totals.get(e["type_name"], 0) + e["length"]
    return totals


def config_table(result):
    raw = result.buffers["es_di"]
    if result.regs.ax != 0 or result.regs.cf:
        return {"call": _call(result), "present": False}
    length, model, submodel, revision = struct.unpack_from("<HBBB", raw)
    features = raw[5:10]
    return {"call": "int 15h ah=c0h (table copied)", "present": True, "length": length, "model": model,
            "submodel": submodel, "revision": revision, "features": features.hex(),
            "feature_names": [name for bit, name in CONFIG_FEATURES.items() if features[0] & bit]}


def apm(result):
    r = result.regs
    if r.cf or r.bx != 0x504D:                     # "PM": APM 1.2 section 4.6, 5300h
        return {"call": _call(result), "present": False, "error": r.ah}
    return {"call": _call(result), "present": True, "version": "%d.%d" % (r.ah, r.al), "flags": r.cx}


def vbe(result):
    info, r = result.buffers["es_di"], result.regs
    if r.ax != 0x004F:
        return {"call": "vbe 4f00h + 4f01h per mode", "present": False, "status": r.ax}
    version, total = struct.unpack_from("<H", info, 4)[0], struct.unpack_from("<H", info, 18)[0]
    words = struct.unpack("<256H", result.buffers["gs_bp"])
    listed = list(words[:words.index(0xFFFF)] if 0xFFFF in words else words)
    infos = result.buffers["ds_dx"]
    modes = [mode_info(m, infos[256 * i:256 * i + 256]) for i, m in enumerate(listed[:r.bx])]
    return {"call": "vbe 4f00h + 4f01h per mode", "present": True, "version": version,
            "version_text": "%d.%d" % (version >> 8, version & 0xFF),
            "oem": result.buffers["fs_si"].split(b"\0", 1)[0].decode("ascii", "replace"),
            "total_memory_kib": total * 64, "modes": modes}


def mode_info(number, block):
    """VBE 3.0 section 4.4, ModeInfoBlock."""
    attributes, = struct.unpack_from("<H", block, 0)
    width, height = struct.unpack_from("<HH", block, 0x12)
    bpp, model = block[0x19], block[0x1B]
    lfb, = struct.unpack_from("<I", block, 0x28)
    return {"mode": number, "width": width, "height": height, "bpp": bpp, "memory_model": model,
            "memory_model_name": VBE_MODELS.get(model, "model %d" % model), "lfb": lfb,
            "attributes": attributes, "graphics": bool(attributes & 0x10)}


def edid(result):
    block = result.buffers["es_di"]
    ok = result.regs.ax == 0x004F
    out = {"call": _call(result), "status": result.regs.ax, "hex": block.hex() if ok else None}
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


def pci_bios(result):
    r = result.regs
    present = not r.cf and r.ah == 0 and r.edx == 0x20494350   # "PCI "
    out = {"call": _call(result), "present": present}
    if present:
        out.update(version="%x.%02x" % (r.bh, r.bl), last_bus=r.cl, mechanism=r.al)
    return out


def edd(out, disk_count):
    """Int 13h 41h and 48h for each hard disk the BDA counts (EDD 3.0 sections 7.1 and 7.3)."""
    drives = []
    for drive in range(0x80, 0x80 + min(disk_count, 4)):
        check, params = out["edd41:%02x" % drive], out["edd48:%02x" % drive]
        item = {"drive": drive, "call": "%s; %s" % (_call(check), _call(params)),
                "present": not check.regs.cf and check.regs.bx == 0xAA55}
        if item["present"]:
            item.update(version=check.regs.ah, support=check.regs.cx)
        if not params.regs.cf:
            raw = params.buffers["ds_si"]
            size, flags, cyl, heads, spt, sectors, bps = struct.unpack_from("<HHIIIQH", raw)
            item["params"] = {"size": size, "flags": flags, "cylinders": cyl, "heads": heads,
                              "sectors_per_track": spt, "sectors": sectors, "bytes_per_sector": bps}
        drives.append(item)
    return {"bda_hard_disks": disk_count, "drives": drives}


def smbios(result):
    from .smbios_decode import summary
    length, copied = result.regs.eax, result.regs.ebx
    entry = result.buffers["edi"][:length]
    out = {"call": "smbios entry point + structure table (flat32 copy)", "present": bool(length),
           "entry_point": entry.hex()}
    if length:
        out.update(summary(entry, result.buffers["ebp"][:copied]))
    return out


def tables(out, fseg, low):
    """RSDP, $PIR, _MP_, $PnP and _32_ headers on 16-byte boundaries of the F segment and the EBDA's KiB."""
    ebda = out["low"].regs.eax
    found = {}
    for area, data, base in (("ebda", low[256:], ebda), ("fseg", fseg, 0xF0000)):
        for off in range(0, len(data) - 16, 16):
            name = ANCHORS.get(bytes(data[off:off + 8])) or ANCHORS.get(bytes(data[off:off + 4]))
            if name and name not in found:
                found[name] = _table(name, data[off:], base + off)
    found["call"] = "%s; %s" % (_call(out["fseg"]), _call(out["low"]))
    return found


def _table(name, data, address):
    """What each header says about itself (the specs named per branch) and whether its checksum adds up."""
    if name == "rsdp":                  # ACPI 6.x section 5.2.5.3
        revision = data[15]
        size = 36 if revision >= 2 else 20
        return {"address": address, "oem": data[9:15].decode("ascii", "replace"), "revision": revision,
                "rsdt": struct.unpack_from("<I", data, 16)[0], "checksum_ok": sum(data[:20]) % 256 == 0,
                "hex": bytes(data[:size]).hex()}
    if name == "pir":                   # Microsoft PCI IRQ Routing Table Specification 1.0
        size, = struct.unpack_from("<H", data, 6)
        return {"address": address, "version": "%d.%d" % (data[5], data[4]), "size": size,
                "slots": max(0, (size - 32) // 16), "checksum_ok": sum(data[:min(size, 4096)]) % 256 == 0}
    if name == "mp":                    # Intel MP 1.4 section 4.1
        return {"address": address, "config_table": struct.unpack_from("<I", data, 4)[0],
                "spec_rev": "1.%d" % data[9], "checksum_ok": sum(data[:16 * data[8]]) % 256 == 0}
    if name == "pnp":                   # Plug and Play BIOS 1.0A section 4.4
        return {"address": address, "version": "%d.%d" % (data[4] >> 4, data[4] & 0xF), "length": data[5],
                "checksum_ok": sum(data[:data[5]]) % 256 == 0}
    return {"address": address, "entry": struct.unpack_from("<I", data, 4)[0],   # BIOS32 SD 0.4
            "revision": data[8], "checksum_ok": sum(data[:16 * data[9]]) % 256 == 0}
