"""Pre-flight checks of the real jump (`physcall check`): can this machine run the kexec backend?

Each check is a :class:`Check` (name, ok, detail, fix); ``ok`` is True, False, or None when it could
not be told (not root, no kernel config): None never blocks a jump, False always does.

>>> rows = checks(paths=Paths(root="/nonexistent"))
>>> [c.name for c in rows][:3]
['root', 'x86-64', 'kexec-jump']
"""

import gzip
import os
import platform
import re
import struct
from typing import NamedTuple, Optional

from . import bda
from .errors import PreflightError

# Kernels whose return from a preserve-context jump is known (docs/DESIGN.md, "Kernels"): 6.1.y leaves
# GDTR = 0/0 and triple-faults; 6.12.117 (Debian trixie) carries "x86/kexec: Restore GDT on return
# from ::preserve_context kexec" and ran hundreds of jumps.
GDT_FIX_FROM = (6, 12)


class Check(NamedTuple):
    name: str
    ok: Optional[bool]
    detail: str
    fix: str


class Paths(NamedTuple):
    """Where the checks look; tests point ``root`` at a fake tree."""
    root: str = "/"

    def __call__(self, path):
        return os.path.join(self.root, path.lstrip("/"))


def checks(force=False, paths=Paths()):
    """Every check, in order.  ``force`` lets an image someone else loaded be replaced."""
    return [check_root(), check_arch(), check_kexec_jump(paths), check_load_disabled(paths),
            check_lockdown(paths), check_legacy_bios(paths), check_gdt_fix(paths),
            check_loaded(paths, force)]


def require(force=False, paths=Paths()):
    """Raise PreflightError listing every failed check with its fix; return the table otherwise.

    >>> try:
    ...     require()
    ... except PreflightError as exc:
    ...     print(all(c.fix for c in exc.checks if c.ok is False))
    ... else:
    ...     print(True)
    True
    """
    table = checks(force, paths)
    failed = [c for c in table if c.ok is False]
    if failed:
        lines = ["  %s: %s\n    fix: %s" % (c.name, c.detail, c.fix) for c in failed]
        raise PreflightError("the real jump is not possible here (%d check%s failed):\n%s"
                             % (len(failed), "" if len(failed) == 1 else "s", "\n".join(lines)), table)
    return table


def as_json(table):
    """Rows for `physcall check --json`."""
    return [c._asdict() for c in table]


def _read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except OSError:
        return None


def check_root():
    ok = os.geteuid() == 0
    return Check("root", ok, "running as uid %d" % os.geteuid(),
                 "run as root: kexec_load, reboot and /proc/self/pagemap PFNs need CAP_SYS_BOOT/CAP_SYS_ADMIN")


def check_arch():
    machine = platform.machine()
    return Check("x86-64", machine == "x86_64", "machine is %s" % machine,
                 "the trampoline is x86-64 code: run on an x86-64 kernel")


def kernel_config(paths=Paths()):
    """The running kernel's config text, from /proc/config.gz or /boot/config-$(uname -r), or None."""
    raw = _read(paths("/proc/config.gz"), binary=True)
    if raw:
        try:
            return gzip.decompress(raw).decode(errors="replace")
        except OSError:
            pass
    return _read(paths("/boot/config-%s" % platform.release()))


def check_kexec_jump(paths=Paths()):
    config = kernel_config(paths)
    fix = ("build a kernel with CONFIG_KEXEC=y and CONFIG_KEXEC_JUMP=y (Debian enables neither jump "
           "option in any suite; physcall/vm/kernel.fragment is a working set)")
    if config is None:
        return Check("kexec-jump", None, "no /proc/config.gz or /boot/config-%s: kexec_load will tell "
                     "(EINVAL for KEXEC_PRESERVE_CONTEXT without it)" % platform.release(), fix)
    on = re.search(r"^CONFIG_KEXEC_JUMP=y$", config, re.M) is not None
    return Check("kexec-jump", on, "CONFIG_KEXEC_JUMP=%s" % ("y" if on else "not set"), fix)


def check_load_disabled(paths=Paths()):
    value = _read(paths("/proc/sys/kernel/kexec_load_disabled"))
    fix = ("kexec_load_disabled can only be set, never cleared, until reboot: boot without whatever sets "
           "kernel.kexec_load_disabled=1 (sysctl.d, a security policy)")
    if value is None:
        return Check("kexec-load-enabled", None, "no /proc/sys/kernel/kexec_load_disabled", fix)
    return Check("kexec-load-enabled", value.strip() == "0", "kernel.kexec_load_disabled = %s" % value.strip(), fix)


def check_lockdown(paths=Paths()):
    value = _read(paths("/sys/kernel/security/lockdown"))
    fix = "boot with lockdown=none (Secure Boot enables integrity lockdown, which forbids kexec_load)"
    if value is None:
        return Check("lockdown", None, "no /sys/kernel/security/lockdown (securityfs not mounted, or no "
                     "lockdown LSM): kexec_load will tell (EPERM when locked down)", fix)
    mode = re.search(r"\[(\w+)\]", value)
    mode = mode.group(1) if mode else value.strip()
    return Check("lockdown", mode == "none", "lockdown is %s" % mode, fix)


def check_legacy_bios(paths=Paths()):
    fix = "physcall calls the legacy BIOS: boot the machine in legacy/CSM mode (not UEFI), or use backend='vm'"
    if os.path.exists(paths("/sys/firmware/efi")):
        return Check("legacy-bios", False, "booted through UEFI (/sys/firmware/efi exists)", fix)
    ivt = read_low(paths, 0, 0x400)
    if ivt is None:
        return Check("legacy-bios", None, "no EFI; /dev/mem unreadable, IVT not checked", fix)
    bad = []
    for vector in (0x10, 0x13, 0x15):
        off, seg = struct.unpack_from("<HH", ivt, vector * 4)
        if seg < 0xC000:
            bad.append("int %02xh -> %04x:%04x" % (vector, seg, off))
    detail = "IVT 10h/13h/15h point into the ROMs" if not bad else "IVT outside the ROMs: " + ", ".join(bad)
    return Check("legacy-bios", not bad, detail, fix)


def read_low(paths, addr, size):
    """Bytes of low physical memory through /dev/mem (STRICT_DEVMEM allows the first MiB), or None."""
    from .snapshot import Memory, SnapshotError
    try:
        mem = Memory(paths("/dev/mem"))
    except SnapshotError:
        return None
    try:
        return mem.read(addr, size)
    except SnapshotError:
        return None
    finally:
        mem.close()


def ebda_base(paths=Paths()):
    """Where this machine's BIOS memory below 640 KiB begins (physcall.bda.firmware_low), or None."""
    data = read_low(paths, bda.BDA, bda.BDA_END - bda.BDA)
    return None if data is None else bda.firmware_low(data)


def kernel_version(release=None):
    nums = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or platform.release())
    return tuple(int(n or 0) for n in nums.groups()) if nums else (0, 0, 0)


def check_gdt_fix(paths=Paths()):
    version = kernel_version()
    ok = version[:2] >= GDT_FIX_FROM
    return Check("gdt-restore-fix", ok, "kernel %s: %s" % (platform.release(),
                 "carries 'x86/kexec: Restore GDT on return from ::preserve_context kexec' (6.12+)" if ok
                 else "before 6.12: returns with GDTR = 0/0 and triple-faults (measured on 6.1.y)"),
                 "run Linux 6.12 or later (Debian trixie's linux-source-6.12 works)")


def kexec_loaded(paths=Paths()):
    """True when a (non-crash) kexec image is loaded: ``/sys/kernel/kexec_loaded`` reads 1."""
    value = _read(paths("/sys/kernel/kexec_loaded"))
    return value is not None and value.strip() == "1"


def check_loaded(paths=Paths(), force=False):
    loaded = kexec_loaded(paths)
    detail = "an image is already loaded (/sys/kernel/kexec_loaded = 1)" if loaded else "no image loaded"
    if loaded and force:
        detail += "; force=True: it will be replaced and unloaded"
    return Check("nothing-loaded", not loaded or force, detail,
                 "someone else's kexec image is loaded (kdump-tools? kexec -l?): unload it with `kexec -u` "
                 "or pass force=True (--force) to replace it")
