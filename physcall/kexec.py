"""The kexec backend: run a Layout natively on this machine through a kexec jump.

Order of events (docs/DESIGN.md, "The kexec-jump contract"): confirmation -> lock (flock) -> pre-flight ->
mailbox (mmap + mlock, PFNs from /proc/self/pagemap) -> image (physcall.image) -> kexec_load with
KEXEC_PRESERVE_CONTEXT -> reboot(LINUX_REBOOT_CMD_KEXEC) -> read the mailbox -> unload.  Whatever
happens after the load, the image is unloaded and the lock released.  The system calls, struct
kexec_segment and the TSC go through cffi (physcall.hostlib).

**This resets a machine whose kernel or firmware disagrees with the trampoline.**  Run it in
physcall's QEMU guest (backend "vm"); on a real machine only after `physcall check` and with
``confirm=True``.

>>> try:
...     run_kexec(None)
... except ConfirmationRequired as exc:
...     print(type(exc).__name__)
ConfirmationRequired
"""

import errno
import fcntl
import logging
import mmap
import os
import secrets
import struct
import time

from . import abi, image, preflight
from .hostlib import ffi, helper, libc, rdtsc, syscall
from .preflight import kexec_loaded
from .errors import BackendError, ConfirmationRequired
from .outcome import PENDING, RETURNED, SKIPPED, Outcome
from .regs import FIELDS, Regs

log = logging.getLogger("physcall")

SYS_KEXEC_LOAD = 246               # x86-64
SYS_REBOOT = 169
KEXEC_PRESERVE_CONTEXT = 0x2
KEXEC_ARCH_DEFAULT = 0
LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 672274793
LINUX_REBOOT_CMD_KEXEC = 0x45584543
LOCK_PATH = "/run/physcall.lock"
STATUS = {abi.CALL_PENDING: PENDING, abi.CALL_RETURNED: RETURNED, abi.CALL_SKIPPED: SKIPPED}


# ---------------------------------------------------------------------------------------- syscalls

def kexec_load(entry, segments, flags=KEXEC_PRESERVE_CONTEXT | KEXEC_ARCH_DEFAULT):
    """kexec_load(2) of ``segments`` ([image.Segment]); the buffers live until the call returns."""
    helper()                                  # declares struct kexec_segment (the uapi header's)
    bufs = [ffi.from_buffer(s.data) for s in segments]
    arr = ffi.new("struct kexec_segment[]", [
        {"buf": b, "bufsz": len(s.data), "mem": ffi.cast("void *", s.mem), "memsz": s.memsz}
        for b, s in zip(bufs, segments)])
    try:
        syscall(SYS_KEXEC_LOAD, entry, len(segments), arr, flags)
    except OSError as exc:
        raise BackendError("kexec_load failed: %s\n  %s" % (exc, _load_hint(exc.errno))) from None


def _load_hint(err):
    return {
        errno.EINVAL: "EINVAL: the kernel lacks CONFIG_KEXEC_JUMP (KEXEC_PRESERVE_CONTEXT is refused), or "
                      "a segment is too large; run `physcall check`",
        errno.EPERM: "EPERM: not root, kernel.kexec_load_disabled=1, or lockdown; run `physcall check`",
        errno.EADDRNOTAVAIL: "EADDRNOTAVAIL: a segment is not page-aligned (physcall bug: report it)",
        errno.EBUSY: "EBUSY: another kexec operation is under way",
        errno.ENOSYS: "ENOSYS: this kernel has no kexec_load (CONFIG_KEXEC off)",
    }.get(err, "run `physcall check`")


def kexec_unload():
    """Unload the (non-crash) kexec image: kexec_load with no segments."""
    syscall(SYS_KEXEC_LOAD, 0, 0, ffi.NULL, 0)


def reboot_kexec():
    """reboot(LINUX_REBOOT_CMD_KEXEC): the jump; returns when the image has returned."""
    try:
        syscall(SYS_REBOOT, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, ffi.NULL)
    except OSError as exc:
        raise BackendError("reboot(LINUX_REBOOT_CMD_KEXEC) failed: %s (a device refused to freeze, or no "
                           "image is loaded)" % exc) from None


# ---------------------------------------------------------------------------------------- mailbox

class Mailbox:
    """Locked anonymous pages whose physical addresses the trampoline writes the results to."""

    def __init__(self, pages):
        self.pages = max(1, pages)
        self.map = mmap.mmap(-1, self.pages * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        with ffi.from_buffer(self.map) as view:       # an mmap never moves: the address outlives the view
            self.addr = int(ffi.cast("uintptr_t", view))
            locked = libc().mlock(view, len(self.map)) == 0
        if not locked:
            err = ffi.errno
            self.map.close()
            raise BackendError("mlock of the mailbox failed: %s (raise RLIMIT_MEMLOCK or run as root)"
                               % os.strerror(err))
        for i in range(self.pages):                   # fault every page in before asking for its PFN
            self.map[i * mmap.PAGESIZE] = 0
        self.phys = self.lookup()

    def lookup(self):
        """Physical address of each page, from /proc/self/pagemap (bits 0-54 PFN, bit 63 present)."""
        with open("/proc/self/pagemap", "rb", buffering=0) as f:
            f.seek(self.addr // mmap.PAGESIZE * 8)
            raw = f.read(self.pages * 8)
        out = []
        for (entry,) in struct.iter_unpack("<Q", raw):
            pfn = entry & ((1 << 55) - 1)
            if not entry >> 63 or pfn == 0:
                raise BackendError("/proc/self/pagemap gave no PFN for a mailbox page (needs CAP_SYS_ADMIN)")
            out.append(pfn * mmap.PAGESIZE)
        return out

    def read(self, offset, size):
        return bytes(self.map[offset:offset + size])

    def close(self):
        if not self.map.closed:
            libc().munlock(ffi.cast("void *", self.addr), len(self.map))
            self.addr = 0
            self.map.close()


# ---------------------------------------------------------------------------------------- lock

class JumpLock:
    """flock(LOCK_PATH): one jump at a time on this machine."""

    def __init__(self, path=LOCK_PATH, timeout=None):
        self.path, self.timeout, self.fd = path, timeout, None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise BackendError("another physcall jump holds %s" % self.path) from None
                time.sleep(0.01)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# ---------------------------------------------------------------------------------------- the jump

def run_kexec(layout, *, confirm=False, force=False, timeout=60.0, checks=True):
    """Run ``layout`` (physcall.layout.Layout) for real with one kexec jump; one Outcome per call.

    Raises ConfirmationRequired without ``confirm=True``, PreflightError when a pre-flight check
    fails (nothing is loaded then), BackendError when the jump or the mailbox went wrong.
    ``force`` replaces an image someone else loaded.  ``timeout`` bounds the wait for the lock.

    >>> from physcall.layout import lay_out; from physcall.call import interrupt
    >>> run_kexec(lay_out(interrupt(0x12)))   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    physcall.errors.ConfirmationRequired: a real jump on this machine needs explicit confirmation: ...
    """
    if confirm is not True:
        raise ConfirmationRequired()
    if checks:          # first outside the lock, so that a non-root caller hears why, not EACCES
        preflight.require(force=force)
    with JumpLock(timeout=timeout):
        if checks:      # and again under it: another process may have loaded an image meanwhile
            preflight.require(force=force)
        outcomes, _ = _jump(layout)
    return outcomes


def _jump(layout):
    tsc_mhz()                           # measured before the jump, not in the thaw that follows it
    ebda = preflight.ebda_base()
    box = Mailbox(image.mailbox_pages_needed(layout))
    try:
        nonce = secrets.randbits(64)
        img = image.build_image(layout, box.phys, nonce, ebda)
        loaded = False
        try:
            kexec_load(img.entry, img.segments)
            loaded = True
            t0 = rdtsc()
            reboot_kexec()
            t1 = rdtsc()
        finally:
            if loaded or kexec_loaded():
                kexec_unload()
        if box.lookup() != box.phys:
            raise BackendError("a mailbox page moved during the jump: results are unreliable; try again")
        return _decode(layout, img, box, nonce, (t0, t1))
    finally:
        box.close()


def _decode(layout, img, box, nonce, host_tsc):
    raw = box.read(0, img.result_size)
    hdr = abi.ffi.from_buffer("struct pc_header *", bytearray(raw[:abi.SIZEOF_HEADER]))
    if hdr.magic != abi.MAGIC or hdr.nonce != nonce:
        raise BackendError("the mailbox holds no result of this jump (magic %#x, nonce %s): the trampoline "
                           "did not reach its end" % (hdr.magic, "ok" if hdr.nonce == nonce else "wrong"))
    if hdr.status != abi.BATCH_DONE:
        raise BackendError("the trampoline ended with batch status %d (PC_BATCH_*)" % hdr.status)
    batch = {"jumps": hdr.jumps, "done": hdr.done, "entry_cr0": hdr.entry_cr0, "entry_cr3": hdr.entry_cr3,
             "entry_cr4": hdr.entry_cr4, "entry_efer": hdr.entry_efer, "entry_rflags": hdr.entry_rflags,
             "return_address": hdr.return_address,
             "irq": {"before": irq_state(hdr.irq_before), "after": irq_state(hdr.irq_after),
                     "calls": hdr.irq_calls, "eois": hdr.irq_eois}}
    tsc_batch = {"image_entry": hdr.tsc_entry, "image_exit": hdr.tsc_exit,
                 "image": hdr.tsc_exit - hdr.tsc_entry}
    if None not in host_tsc:
        tsc_batch.update(host_before=host_tsc[0], host_after=host_tsc[1], round_trip=host_tsc[1] - host_tsc[0])
    mhz = tsc_mhz()
    if mhz:
        tsc_batch["tsc_mhz"] = mhz
    calls = abi.ffi.from_buffer("struct pc_call[]", bytearray(raw[abi.SIZEOF_HEADER:abi.SIZEOF_HEADER
                                                                + len(layout.calls) * abi.SIZEOF_CALL]))
    return [_outcome(placed, calls[i], img.buffer_offsets[i], raw, tsc_batch, batch)
            for i, placed in enumerate(layout.calls)], hdr


def _vectors(words):
    """The vectors whose bits are set in a local APIC ISR/IRR image (8 dwords, vector 0 first)."""
    return [32 * i + bit for i, word in enumerate(words) for bit in range(32) if word >> bit & 1]


def irq_state(s):
    """A ``struct pc_irq_state`` as a dict (None when the trampoline did not write it: no real16 call).

    ``isr``/``irr`` list the local APIC's in-service and pending vectors; ``pic_*`` are (master, slave).
    """
    if not s.flags & abi.IRQ_VALID:
        return None
    return {"apic_base": s.apic_base, "lapic": bool(s.flags & abi.IRQ_LAPIC),
            "x2apic": bool(s.flags & abi.IRQ_X2APIC), "lapic_forced": bool(s.flags & abi.IRQ_LAPIC_FORCED),
            "tpr": s.tpr, "spiv": s.spiv, "lvt_timer": s.lvt_timer, "lvt0": s.lvt0, "lvt1": s.lvt1,
            "lvt_error": s.lvt_error, "isr": _vectors(s.isr), "irr": _vectors(s.irr),
            "pic_imr": list(s.pic_imr), "pic_isr": list(s.pic_isr), "pic_irr": list(s.pic_irr),
            "elcr": list(s.elcr), "pit_status": s.pit_status, "cmos_b": s.cmos_b}


def _outcome(placed, rec, offsets, raw, tsc_batch, batch):
    out = rec.out
    status = STATUS.get(rec.status, str(rec.status))
    regs = Regs(**{name: getattr(out, name) for name in FIELDS})
    buffers = {name: raw[off:off + size] for name, (off, size) in offsets.items()} if status == RETURNED else {}
    timing = dict(tsc_batch, entry=rec.tsc_entry, exit=rec.tsc_exit, call=rec.tsc_exit - rec.tsc_entry)
    return Outcome(call=placed.call, regs=regs, buffers=buffers, backend="kexec", status=status,
                   timing=timing, extra=dict(batch, esp=out.esp, ss=out.ss))


_TSC_MHZ = []


def tsc_mhz(interval=0.02):
    """The TSC's rate in MHz, measured once per process against CLOCK_MONOTONIC_RAW over ``interval``
    seconds.  /proc/cpuinfo's "cpu MHz" is no substitute: it is the core clock (it moves with
    frequency scaling), and it is missing when the kernel's own TSC calibration failed (seen in the
    TCG guest on a loaded host).  The first rdtsc() is not timed (it loads libphyscall.so), and the
    rate is taken as the median of three windows: on a loaded TCG host one window was once off by
    a third (a window measured right after a jump's thaw, which _jump now avoids)."""
    if not _TSC_MHZ:
        rdtsc()
        rates = []
        for _ in range(3):
            t0, c0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW), rdtsc()
            time.sleep(interval)
            c1, t1 = rdtsc(), time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
            rates.append((c1 - c0) * 1000 / (t1 - t0))
        _TSC_MHZ.append(round(sorted(rates)[1], 3))
    return _TSC_MHZ[0] if _TSC_MHZ else None
