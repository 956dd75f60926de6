"""Snapshots of a machine's firmware as ELF core files: what the dry run runs when it runs the real thing.

The format is the one QEMU's ``dump-guest-memory`` writes (and pyelftools, gdb and GNU readelf read):
an ELF64 ``ET_CORE`` file with one ``PT_LOAD`` per physical range, ``p_paddr`` = the physical address.
A snapshot holds the first MiB (IVT, BDA, EBDA, option ROMs, the system ROM) and the firmware tables
the first MiB points at above it: the SMBIOS structure table (SMBIOS 3.x, 5.2 "Entry Point
Structure"), the ACPI RSDT/XSDT and the FADT (ACPI 6.x, 5.2.5 "Root System Description Pointer").
One ``PT_NOTE`` named ``PHYSCALL`` carries JSON: where the snapshot came from (machine, kernel, date),
the E820 map, ``/proc/iomem`` and bus 0's PCI configuration spaces, from which the dry run derives who
owns memory and what the PCI configuration mechanism answers.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "s.elf")
>>> write_core(path, [(0x400, b"\\x7f\\x02")], {"kernel": "test"})
>>> ranges, meta = read_core(path)
>>> ranges[0][0], ranges[0][1], meta["kernel"]
(1024, b'\\x7f\\x02', 'test')
"""

import datetime
import glob
import json
import logging
import os
import platform
import re
import struct

from .errors import InputError

log = logging.getLogger("physcall")

LOW_SIZE = 0x100000
NOTE_NAME = b"PHYSCALL"
NOTE_TYPE = 0x50430001            # "PC" + 1: a vendor note type, meaningful only under NOTE_NAME
MAX_TABLE = 1 << 20               # a firmware table longer than this is not believed
E820_TYPES = {1: "usable", 2: "reserved", 3: "ACPI data", 4: "ACPI NVS", 5: "unusable",
              7: "persistent"}


class SnapshotError(InputError):
    """A snapshot could not be taken or read: the message names the file and what to do."""


# ------------------------------------------------------------------------------------ the ELF file

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")   # Elf64_Ehdr (System V ABI, 4.1 "ELF Header")
_PHDR = struct.Struct("<IIQQQQQQ")           # Elf64_Phdr
PT_LOAD, PT_NOTE, ET_CORE, EM_X86_64, PF_R, PF_W, PF_X = 1, 4, 4, 62, 4, 2, 1


def _note(name, ntype, desc):
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(name) + 1, len(desc), ntype) + pad(name + b"\0") + pad(desc)


def write_core(path, ranges, meta):
    """Write ``ranges`` ([(phys, bytes)]) and ``meta`` (JSON-able) as an ELF core at ``path``."""
    note = _note(NOTE_NAME, NOTE_TYPE, json.dumps(meta, sort_keys=True).encode())
    count = 1 + len(ranges)
    offset = _EHDR.size + count * _PHDR.size
    phdrs = [_PHDR.pack(PT_NOTE, 0, offset, 0, 0, len(note), 0, 4)]
    data_at = offset + len(note)
    for phys, data in ranges:
        phdrs.append(_PHDR.pack(PT_LOAD, PF_R | PF_W | PF_X, data_at, phys, phys, len(data),
                                len(data), 1))
        data_at += len(data)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)          # ELFCLASS64, little-endian, EV_CURRENT
    ehdr = _EHDR.pack(ident, ET_CORE, EM_X86_64, 1, 0, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size,
                      count, 0, 0, 0)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(ehdr + b"".join(phdrs) + note)
        for _, data in ranges:
            f.write(data)
    os.replace(tmp, path)


def read_core(path):
    """``([(phys, bytes)], meta)`` of an ELF core; meta is {} when it has no PHYSCALL note (a core
    from QEMU's dump-guest-memory or /proc/vmcore)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    ranges, meta = [], {}
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_type"] != "ET_CORE":
                raise SnapshotError("%s is an ELF file of type %s, not a core (ET_CORE): write one "
                                    "with `physcall snapshot -o FILE`" % (path, elf["e_type"]))
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                    ranges.append((seg["p_paddr"], seg.data()))
                elif seg["p_type"] == "PT_NOTE":
                    meta.update(_physcall_note(seg))
    except ELFError as e:
        raise SnapshotError("%s is not a readable ELF core (%s)" % (path, e)) from None
    except OSError as e:
        raise SnapshotError("cannot read snapshot %s: %s" % (path, e)) from None
    return ranges, meta


def _physcall_note(seg):
    for note in seg.iter_notes():
        if note["n_name"] == NOTE_NAME.decode() and note["n_type"] == NOTE_TYPE:
            desc = note["n_desc"]
            return json.loads(desc if isinstance(desc, (str, bytes)) else bytes(desc))
    return {}


def is_elf(path):
    """True when ``path`` starts with the ELF magic."""
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


# ------------------------------------------------------------------------------- taking a snapshot

class Memory:
    """Physical memory through ``/dev/mem`` (or an image file standing in for it, in tests)."""

    def __init__(self, path="/dev/mem"):
        self.path = path
        try:
            self.f = open(path, "rb", buffering=0)
        except OSError as e:
            raise SnapshotError("cannot open %s (%s): a snapshot of this machine needs root, a kernel "
                                "with CONFIG_DEVMEM, and no lockdown" % (path, e)) from None

    def read(self, phys, size):
        """``size`` bytes at ``phys``; SnapshotError if the kernel refuses (STRICT_DEVMEM, a hole).

        Above 1 MiB the bytes come through mmap: read(2) of /dev/mem maps each page with memremap,
        which fails (EFAULT) on the reserved ranges where ACPI tables live in a QEMU guest, while
        mmap maps them with remap_pfn_range (drivers/char/mem.c, as dmidecode reads them)."""
        try:
            if phys < LOW_SIZE and phys + size <= LOW_SIZE:
                return self._read(phys, size)
            return self._mapped(phys, size)
        except OSError as e:
            raise SnapshotError("reading %d bytes at %#x from %s failed: %s" % (size, phys, self.path,
                                                                                  e)) from None

    def _read(self, phys, size):
        out = bytearray()
        self.f.seek(phys)
        while len(out) < size:
            chunk = self.f.read(size - len(out))
            if not chunk:
                raise OSError("short read: %d of %d bytes" % (len(out), size))
            out += chunk
        return bytes(out)

    def _mapped(self, phys, size):
        import mmap
        base = phys & ~(mmap.PAGESIZE - 1)
        length = phys + size - base
        try:
            with mmap.mmap(self.f.fileno(), length, mmap.MAP_SHARED, mmap.PROT_READ, offset=base) as m:
                return bytes(m[phys - base:phys - base + size])
        except (OSError, ValueError):
            return self._read(phys, size)      # a plain file standing in for /dev/mem, or no mmap

    def close(self):
        self.f.close()


def take(mem="/dev/mem", root="/"):
    """``([(phys, bytes)], meta)`` of this machine: the first MiB, the tables above it, the facts.

    ``root`` prefixes /sys and /proc paths (tests point it at a fixture tree).

    >>> ranges, meta = take()        # doctest: +SKIP
    """
    memory = Memory(mem)
    try:
        low = memory.read(0, LOW_SIZE)
        tables, missing = firmware_tables(low, memory)
    finally:
        memory.close()
    meta = facts(root)
    meta["tables"] = [{"name": name, "phys": phys, "size": len(data)} for name, phys, data in tables]
    meta["tables_missing"] = missing
    ranges = merge_data([(0, low)] + [(phys, data) for _, phys, data in tables])
    return ranges, meta


def merge_data(ranges):
    """Sorted ``(phys, bytes)`` ranges with overlapping or touching ones joined (later bytes win).

    >>> merge_data([(4, b"ef"), (0, b"abcd"), (10, b"x")])
    [(0, b'abcdef'), (10, b'x')]
    """
    out = []
    for phys, data in sorted(ranges, key=lambda r: r[0]):
        if out and phys <= out[-1][0] + len(out[-1][1]):
            start, old = out[-1]
            joined = bytearray(old)
            joined[phys - start:phys - start + len(data)] = data
            out[-1] = (start, bytes(joined))
        else:
            out.append((phys, bytes(data)))
    return out


def firmware_tables(low, memory):
    """``([(name, phys, bytes)], [why missing])``: SMBIOS table, RSDT, XSDT, FADT above 1 MiB."""
    found, missing = [], []
    for finder in (_smbios, _acpi):
        try:
            found += finder(low, memory)
        except SnapshotError as e:
            missing.append(str(e))
    return [t for t in found if t[1] >= LOW_SIZE], missing


def _scan(low, magic, lo, hi):
    """First 16-byte aligned occurrence of ``magic`` in low[lo:hi], or None."""
    for at in range(lo, hi, 16):
        if low[at:at + len(magic)] == magic:
            return at
    return None


def _smbios(low, memory):
    at = _scan(low, b"_SM3_", 0xF0000, LOW_SIZE)
    if at is not None:                 # SMBIOS 3.x 64-bit entry point: max size @0Ch, address @10h
        size, phys = struct.unpack_from("<IQ", low, at + 0x0C)
        return [("SMBIOS structure table", phys, memory.read(phys, min(size, MAX_TABLE)))]
    at = _scan(low, b"_SM_", 0xF0000, LOW_SIZE)
    if at is not None:                 # SMBIOS 2.x: table length @16h, address @18h
        size, phys = struct.unpack_from("<HI", low, at + 0x16)
        return [("SMBIOS structure table", phys, memory.read(phys, size))]
    return []


def _acpi(low, memory):
    ebda = int.from_bytes(low[0x40E:0x410], "little") << 4
    at = _scan(low, b"RSD PTR ", ebda, ebda + 1024) if 0 < ebda < 0xA0000 else None
    if at is None:
        at = _scan(low, b"RSD PTR ", 0xE0000, LOW_SIZE)
    if at is None:
        return []
    revision, rsdt = low[at + 15], struct.unpack_from("<I", low, at + 16)[0]
    out = []
    if rsdt:
        out.append(_sdt(memory, "ACPI RSDT", rsdt))
    if revision >= 2:
        xsdt = struct.unpack_from("<Q", low, at + 24)[0]
        if xsdt:
            out.append(_sdt(memory, "ACPI XSDT", xsdt))
    for name, _, table in list(out):
        width = 8 if name.endswith("XSDT") else 4
        for i in range(36, len(table) - width + 1, width):
            entry = int.from_bytes(table[i:i + width], "little")
            if memory.read(entry, 4) == b"FACP":
                out.append(_sdt(memory, "ACPI FADT", entry))
                break
    return _unique(out)


def _sdt(memory, name, phys):
    """A system description table: its 36-byte header says its length (ACPI 5.2.6)."""
    length = struct.unpack("<I", memory.read(phys + 4, 4))[0]
    if not 36 <= length <= MAX_TABLE:
        raise SnapshotError("%s at %#x claims a length of %d bytes: not believed" % (name, phys, length))
    return (name, phys, memory.read(phys, length))


def _unique(tables):
    seen, out = set(), []
    for t in tables:
        if t[1] not in seen:
            seen.add(t[1])
            out.append(t)
    return out


# ------------------------------------------------------------------------------------ the facts

def facts(root="/"):
    """Where a snapshot comes from, as JSON-able data: machine, kernel, date, E820, iomem, PCI."""
    p = lambda path: os.path.join(root, path.lstrip("/"))
    dmi = {k: _text(p("/sys/class/dmi/id/" + k)) for k in ("sys_vendor", "product_name",
                                                           "bios_vendor", "bios_version", "bios_date")}
    uname = platform.uname()
    return {"machine": {"arch": uname.machine, "hostname": uname.node,
                        **{k: v for k, v in dmi.items() if v}},
            "kernel": {"release": uname.release, "version": uname.version},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "e820": e820_map(root), "iomem": _text(p("/proc/iomem")) or "",
            "pci": pci_config(root)}


def _text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().strip() if not path.endswith("iomem") else f.read()
    except OSError:
        return None


def e820_map(root="/"):
    """The firmware's memory map as [{"start", "end" (exclusive), "type"}], from
    /sys/firmware/memmap (CONFIG_FIRMWARE_MEMMAP: the map as the firmware gave it, before the kernel
    trimmed it)."""
    out = []
    for entry in glob.glob(os.path.join(root, "sys/firmware/memmap/*")):
        try:
            start, end = (int(_text(os.path.join(entry, k)), 16) for k in ("start", "end"))
        except (TypeError, ValueError):
            continue
        out.append({"start": start, "end": end + 1, "type": _text(os.path.join(entry, "type"))})
    return sorted(out, key=lambda e: e["start"])


def pci_config(root="/"):
    """Bus 0's configuration spaces: {"00:1f.3": hex of the first 256 bytes} (root reads all 256;
    others only the 64-byte header)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "sys/bus/pci/devices/*:00:*.*"))):
        m = re.search(r"([0-9a-f]{4}):00:([0-9a-f]{2})\.([0-7])$", path)
        if not m or m.group(1) != "0000":
            continue
        try:
            with open(os.path.join(path, "config"), "rb") as f:
                out["00:%s.%s" % (m.group(2), m.group(3))] = f.read(256).hex()
        except OSError:
            continue
    return out


def describe(path, ranges, meta):
    """A few lines for people: where the snapshot went, its ranges and tables, what is missing."""
    lines = ["wrote %s" % path]
    lines += ["  %#010x-%#010x  %d bytes" % (phys, phys + len(data), len(data)) for phys, data in ranges]
    lines += ["  %-24s at %#x (%d bytes)" % (t["name"], t["phys"], t["size"]) for t in meta.get("tables", [])]
    lines += ["  missing: %s" % why for why in meta.get("tables_missing", [])]
    lines.append("  e820: %d entries, pci bus 0: %d functions" % (len(meta.get("e820", [])),
                                                                 len(meta.get("pci", {}))))
    return "\n".join(lines)


GUEST_PATH = "/tmp/physcall-snapshot.elf"


def from_guest(guest, path):
    """Take a snapshot inside a running physcall.vm.Guest and write it to ``path`` on the host.

    The core travels gzip'ed: the guest's serial channel moves ~0.25 MB/s and low memory is mostly
    zeros."""
    import gzip
    rc, out, err = guest.run([guest.python, "-m", "physcall", "snapshot", "-o", GUEST_PATH, "--json"],
                             timeout=120)
    if rc != 0:
        raise SnapshotError("the guest could not take a snapshot (exit %d): %s"
                            % (rc, err.decode(errors="replace").strip()[-2000:]))
    code = ("import gzip, sys; sys.stdout.buffer.write(gzip.compress(open(%r, 'rb').read(), 6))"
            % GUEST_PATH)
    rc, data, err = guest.run([guest.python, "-c", code], timeout=120)
    if rc != 0:
        raise SnapshotError("reading the guest's snapshot failed: %s" % err.decode(errors="replace"))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.decompress(data))
    os.replace(tmp, path)
    return json.loads(out.decode().strip().splitlines()[-1])
