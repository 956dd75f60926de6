"""Machine models for the emulator: the first MiB of a PC and what a BIOS service may write in it.

A ``Firmware`` comes from the stub BIOS (physcall.emulator.stubbios.build) or from a snapshot of real
low memory: ``/dev/mem`` (which CONFIG_STRICT_DEVMEM still allows below 1 MiB), an ELF core file such
as QEMU's ``dump-guest-memory`` or ``/proc/vmcore`` (PT_LOAD segments by physical address), or a raw
image.  Snapshots consider writable what a BIOS legitimately updates while it runs: the BDA
(0x400-0x500), the EBDA (its segment is the BDA word at 0x40E, its size in KiB the EBDA's first byte:
Ralf Brown's MEMORY.LST, "Extended BIOS Data Area") and VGA RAM (0xA0000-0xC0000).

>>> fw = Firmware("blank", bytes(LOW_SIZE), writable=[(0x400, 0x500, "BDA")])
>>> fw.is_writable(0x413, 2), fw.is_writable(0x0, 4)
(True, False)
"""

from dataclasses import dataclass, field

from ..errors import InputError, ModelError

LOW_SIZE = 0x100000          # the first MiB: IVT, BDA, EBDA, option ROMs, system ROM
STUB_TRAP_PORT = 0x0EE0      # the stub BIOS writes the vector of an unknown leaf here (contract)


@dataclass
class Firmware:
    """A model of the machine's low memory.

    ``low`` is exactly 1 MiB; ``writable`` lists ``(start, end, why)`` ranges a BIOS service may
    update; ``high`` holds ``(phys, bytes)`` regions above 1 MiB (ACPI/SMBIOS tables); ``devices``
    maps an I/O port to a device model (see physcall.emulator.devices).
    """
    name: str
    low: bytes
    writable: list
    high: list = field(default_factory=list)
    devices: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)     # a snapshot's PHYSCALL note (physcall.snapshot)

    def __post_init__(self):
        if len(self.low) != LOW_SIZE:
            raise ModelError("firmware %r: low memory is %d bytes, it must be exactly 1 MiB (%d): "
                                "pad or cut the image" % (self.name, len(self.low), LOW_SIZE))
        self.low = bytes(self.low)

    @property
    def owners(self):
        """Who owns each address (physcall.emulator.owners): from the snapshot's E820 map and iomem
        when it has them, else from the PC's fixed layout."""
        if getattr(self, "_owners", None) is None:
            from .owners import default_owners, owners
            self._owners = owners(self.low, self.meta) if self.meta.get("e820") else default_owners(self.low)
        return self._owners

    def is_writable(self, start, size):
        """True when [start, start+size) lies inside one writable range."""
        return any(lo <= start and start + size <= hi for lo, hi, _ in self.writable)

    def vector(self, n):
        """IVT entry ``n`` as (segment, offset): ``fw.vector(0x12)``."""
        off = int.from_bytes(self.low[4 * n:4 * n + 2], "little")
        return int.from_bytes(self.low[4 * n + 2:4 * n + 4], "little"), off


def snapshot_writable(low, meta=None):
    """The ranges a BIOS may update in a snapshot: what the firmware owns (physcall.emulator.owners):
    BDA, EBDA, VGA RAM, what E820 reserves below 1 MiB, the shadowed RAM in C0000h-FFFFFh."""
    from .owners import default_owners, owners
    own = owners(low, meta) if meta and meta.get("e820") else default_owners(low)
    return own.firmware_ranges()


def from_raw(path, name=None):
    """A Firmware from a raw image of the first MiB (longer files are cut, shorter ones refused).

    >>> import tempfile; f = tempfile.NamedTemporaryFile(); _ = f.write(bytes(LOW_SIZE)); f.flush()
    >>> from_raw(f.name).name.startswith("raw ")
    True
    """
    with open(path, "rb") as f:
        low = f.read(LOW_SIZE)
    if len(low) < LOW_SIZE:
        raise ModelError("raw image %s holds %d bytes: a snapshot of low memory needs 1 MiB"
                            % (path, len(low)))
    return Firmware(name or "raw %s" % path, low, snapshot_writable(low))


def from_elf_core(path):
    """A Firmware from an ELF core: a physcall snapshot (``physcall snapshot -o FILE``), QEMU's
    ``dump-guest-memory`` or ``/proc/vmcore``; PT_LOAD segments are placed by p_paddr.

    Bytes of the first MiB that no segment covers read as zeros; segments above 1 MiB become
    ``high`` regions, up to 16 MiB in all (a full RAM dump is cut there: the firmware tables a
    physcall snapshot carries are small).

    >>> fw = from_elf_core("guest.elf")     # doctest: +SKIP
    """
    from ..snapshot import read_core
    ranges, meta = read_core(path)
    low, high = bytearray(LOW_SIZE), []
    for phys, data in ranges:
        _place(phys, data, low, high)
    return Firmware("snapshot %s" % path, bytes(low), snapshot_writable(low, meta), high=high, meta=meta)


def from_snapshot(ranges, meta, name):
    """A Firmware from a snapshot taken in memory (physcall.snapshot.take)."""
    low, high = bytearray(LOW_SIZE), []
    for phys, data in ranges:
        _place(phys, data, low, high)
    return Firmware(name, bytes(low), snapshot_writable(low, meta), high=high, meta=meta)


def _place(phys, data, low, high, high_cap=16 << 20):
    """Copy the part of a range below 1 MiB into ``low``; keep what lies above, up to ``high_cap``."""
    if phys < LOW_SIZE:
        n = min(len(data), LOW_SIZE - phys)
        low[phys:phys + n] = data[:n]
        phys, data = LOW_SIZE, data[n:]
    if data and sum(len(d) for _, d in high) + len(data) <= high_cap:
        high.append((phys, bytes(data)))


SOURCES = ("stub", "devmem", "FILE (an ELF core from `physcall snapshot`, or a raw 1 MiB image)")
_LOADED = {}


def resolve(spec):
    """The Firmware a dry run uses: ``"stub"`` (or None: the stub BIOS), ``"devmem"`` (a snapshot of
    this machine taken now: root), a path (an ELF core, or a raw image of the first MiB), or a
    Firmware.  Files are loaded once per (path, size, mtime), so a warm dry run reuses its machine.

    >>> resolve("stub").name
    'stub BIOS (profile qemu-256M)'
    """
    if isinstance(spec, Firmware):
        return spec
    if spec is None or spec == "stub":
        from .stubbios import build
        return _cached(("stub",), build)
    if spec == "devmem":
        from ..snapshot import take
        ranges, meta = take()
        return from_snapshot(ranges, meta, "snapshot of this machine (/dev/mem)")
    if not isinstance(spec, (str, bytes)) and not hasattr(spec, "__fspath__"):
        raise ModelError("firmware=%r: give one of %s, or a Firmware" % (spec, ", ".join(SOURCES)))
    import os
    path = os.fspath(spec)
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError("firmware %r: %s; give one of %s" % (path, e.strerror, ", ".join(SOURCES))) \
            from None
    from ..snapshot import is_elf
    loader = from_elf_core if is_elf(path) else from_raw
    return _cached((os.path.abspath(path), st.st_size, st.st_mtime_ns), lambda: loader(path))


def _cached(key, load):
    if key not in _LOADED:
        if len(_LOADED) >= 8:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load()
    return _LOADED[key]
