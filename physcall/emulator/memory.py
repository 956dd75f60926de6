"""The emulated machine's low memory (the first MiB and the HMA) in a buffer physcall owns, mapped
into Unicorn with ``uc_mem_map_ptr``: read and compared in place, through cffi.

A dry run compares what a call may write before and after every call (~150 KiB with the stub BIOS:
its EBDA and VGA RAM, the stack; more with a snapshot's firmware-owned ranges), and ``reset`` compares
the firmware's ranges with the pristine copy.  The binding's ``mem_read`` allocates a zeroed buffer,
reads into it and copies it into a bytearray; here libc's ``memcmp`` runs on the guest's RAM itself.
The guest's stores land in this buffer directly (it is the RAM QEMU runs on), so a read is always
current.  Writes still go through ``uc_mem_write`` (and its callers drop the translations they cover):
nothing here writes the buffer behind Unicorn's back.

>>> from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
>>> uc = Uc(UC_ARCH_X86, UC_MODE_32)
>>> ram = LowRam(uc, bytes(0x2000)); uc.mem_write(0x10, b"abc")
>>> ram.read(0x10, 3), ram.same(0x10, b"xabc", 1, 3), ram.same(0x10, b"abd")
(b'abc', True, False)
>>> ram.put(0x11, b"xyz", 1, 1); ram.read(0x10, 3)
b'ayc'

"""

from unicorn import UC_PROT_ALL, UcError
from unicorn import unicorn_const as UCC

from .. import hostlib

PAGE = 0x1000
# unicorn.h's UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2), as the binding's ctl_remove_cache encodes it
REMOVE_CACHE = (UCC.UC_CTL_IO_WRITE << 30) | (2 << 26) | UCC.UC_CTL_TB_REMOVE_CACHE


class LowRam:
    """[0, len(image)) of ``uc``, mapped over a page-aligned buffer that starts as ``image``."""

    def __init__(self, uc, image):
        ffi, size = hostlib.ffi, len(image)
        self._raw = ffi.new("char[]", size + PAGE)
        # Unicorn runs on it for the Uc's life: the Uc holds it, so it goes after the binding's
        # finalizer has closed the engine (a weakref callback, run before the Uc's dict is cleared)
        uc.physcall_low_ram = self._raw
        start = int(ffi.cast("uintptr_t", self._raw))
        self._base = self._raw + (-start % PAGE)
        ffi.memmove(self._base, image, size)
        self.size, self._libc = size, hostlib.libc()
        uc.mem_map_ptr(0, size, UC_PROT_ALL, int(ffi.cast("uintptr_t", self._base)))
        self._engine, self._uch = hostlib.unicorn(uc), ffi.cast("void *", uc._uch.value)

    def covers(self, at, size):
        return 0 <= at and at + size <= self.size

    def read(self, at, size):
        """``size`` bytes at ``at`` (inside the buffer: ``covers``)."""
        return hostlib.ffi.buffer(self._base + at, size)[:]

    def same(self, at, ref, offset=0, size=None):
        """True when memory at ``at`` holds ``ref[offset:offset + size]`` (size: the rest of ref)."""
        size = len(ref) - offset if size is None else size
        return self._libc.memcmp(self._base + at, hostlib.ffi.from_buffer(ref) + offset, size) == 0

    def put(self, at, data, offset=0, size=None):
        """Write ``data[offset:offset + size]`` at ``at`` through Unicorn (any mapped address) and
        drop the translations of what it covers, without copying ``data``."""
        ffi = hostlib.ffi
        size = len(data) - offset if size is None else size
        err = self._engine.uc_mem_write(self._uch, at, ffi.from_buffer(data) + offset, size)
        if err:
            raise UcError(err, at, size)
        err = self._engine.uc_ctl(self._uch, REMOVE_CACHE, ffi.cast("uint64_t", at),
                                  ffi.cast("uint64_t", at + size))
        if err:
            raise UcError(err)
