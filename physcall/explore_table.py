"""The survey of ``physcall explore`` as a table for people (``--json`` prints the dict itself).

>>> from physcall.explore import explore
>>> print(render(explore()).splitlines()[0])
firmware survey  [emulator, 0 real jumps]
"""


def render(s):
    out = ["firmware survey  [%s, %d real jump%s]" % (s["backend"], s["jumps"], "" if s["jumps"] == 1 else "s")]
    section = out.append
    b = s["bios"]
    section("\nBIOS        date %s, model %02xh" % (b["date"], b["model"]))
    for text in b["strings"][:4]:
        section("            %s" % text)
    m = s["memory"]
    section("\nmemory      int 12h %d KiB base, int 11h equipment %04xh" % (m["int12_kib"], m["int11_equipment"]))
    if m["e801"]:
        section("            e801h %d KiB 1-16 MiB, %d x 64 KiB above" % (m["e801"]["kib_1m_16m"],
                                                                    m["e801"]["blocks_64k_above_16m"]))
    if m["int15_88_kib"] is not None:
        section("            88h %d KiB above 1 MiB" % m["int15_88_kib"])
    section("\nE820        %d entries" % len(s["e820"]))
    for e in s["e820"]:
        section("            %016x-%016x %s" % (e["base"], e["base"] + e["length"] - 1, e["type_name"]))
    for name, total in s["e820_totals"].items():
        section("            total %-10s %10d KiB" % (name, total >> 10))
    c = s["config_table"]
    section("\nconfig      %s" % ("model %02xh submodel %02xh rev %d: %s" % (
        c["model"], c["submodel"], c["revision"], ", ".join(c["feature_names"]) or "-")
        if c["present"] else "no int 15h C0h table"))
    a = s["apm"]
    section("APM         %s" % ("version %s, flags %04xh" % (a["version"], a["flags"]) if a["present"]
                                else "not present (AH=%02xh)" % a["error"]))
    p = s["pci_bios"]
    section("PCI BIOS    %s" % ("version %s, last bus %d, mechanism %d" % (p["version"], p["last_bus"], p["mechanism"])
                                if p["present"] else "not present"))
    _vbe(section, s["vbe"])
    _edid(section, s["edid"])
    _edd(section, s["edd"])
    _smbios(section, s["smbios"])
    section("\ntables      " + (", ".join("%s at %05xh%s" % (k, v["address"], "" if v["checksum_ok"] else " (bad sum)")
                                        for k, v in s["tables"].items() if k != "call") or "none found"))
    return "\n".join(out)


def _vbe(section, v):
    if not v["present"]:
        section("\nVBE         not present (4F00h status %04xh)" % v["status"])
        return
    section("\nVBE         %s, %s, %d KiB, %d modes" % (v["version_text"], v["oem"], v["total_memory_kib"],
                                                       len(v["modes"])))
    section("            mode  resolution   bpp  model         LFB")
    for m in v["modes"]:
        section("            %03xh  %4dx%-6d %3d  %-12s  %s" % (
            m["mode"], m["width"], m["height"], m["bpp"], m["memory_model_name"],
            "%08xh" % m["lfb"] if m["lfb"] else "-"))


def _edid(section, e):
    if not e.get("hex"):
        section("\nEDID        none (4F15h status %04xh)" % e["status"])
        return
    pref = e.get("preferred")
    section("\nEDID        %s product %04xh, %d, EDID %s, header %s, checksum %s%s" % (
        e["manufacturer"], e["product"], e["year"], e["version"], "ok" if e["header_ok"] else "BAD",
        "ok" if e["checksum_ok"] else "BAD", ", preferred %dx%d" % (pref["width"], pref["height"]) if pref else ""))


def _edd(section, d):
    section("\nEDD         %d hard disk(s) in the BDA" % d["bda_hard_disks"])
    for drive in d["drives"]:
        params = drive.get("params") or {}
        section("            %02xh  %s  %s sectors of %s bytes" % (
            drive["drive"], "EDD %02xh" % drive["version"] if drive["present"] else "no EDD",
            params.get("sectors", "?"), params.get("bytes_per_sector", "?")))


def _smbios(section, s):
    if not s["present"]:
        section("\nSMBIOS      no entry point in F0000h-FFFFFh")
        return
    section("\nSMBIOS      %s, table %08xh, %d bytes, %d structures" % (
        s["version"], s["table_address"], s["table_length"], s["structures"]))
    for key in ("bios", "system", "baseboard"):
        if s.get(key):
            section("            %-10s %s" % (key, ", ".join("%s" % v for v in s[key].values() if v)))
    for cpu in s.get("processors", []):
        section("            cpu        %s" % ", ".join("%s" % v for v in cpu.values() if v))
    for dimm in s.get("memory_devices", []):
        section("            memory     %s" % ", ".join("%s" % v for v in dimm.values() if v))
