"""Runs INSIDE physcall's QEMU guest: real kexec jumps, results as one JSON line on stdout.

``python3 tests/guest/inguest.py CHECK [ARGS]``.  Refuses outside the guest (physcall.safety.in_guest):
it passes the jump confirmation itself.  The host-side tests compare what it prints with oracles
(the guest kernel's boot log, /dev/mem, /sys/firmware) that they read on their own.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

from physcall import abi, image, kexec
from physcall.call import Buffer, Routine, interrupt
from physcall.layout import Layout, lay_out
from physcall.safety import in_guest
from physcall.services import SMBIOS_SCAN, disk_read
from physcall.vm import disk


def jump(calls, **kw):
    layout = calls if isinstance(calls, Layout) else lay_out(calls)
    return kexec.run_kexec(layout, confirm=True, **kw)


def regs(outcome):
    return dict(outcome.regs.as_dict(), esp=outcome.extra["esp"], ss=outcome.extra["ss"])


def check_int12():
    out, = jump([interrupt(0x12)])
    return {"regs": regs(out), "status": out.status, "tsc": out.timing, "batch": out.extra}


def check_e820():
    entries, ebx = [], 0
    for _ in range(128):
        out, = jump([interrupt(0x15, eax=0xE820, ebx=ebx, ecx=24, edx=0x534D4150, es_di=Buffer(24))])
        r = out.regs
        if r.cf or r.eax != 0x534D4150:
            break
        entries.append(out.buffers["es_di"][:r.ecx].hex())
        ebx = r.ebx
        if ebx == 0:
            break
    return {"entries": entries}


def check_smbios():
    out, = jump([Routine(SMBIOS_SCAN, mode="flat32", edi=Buffer(64))])     # services.py's scan, raw
    return {"eax": out.regs.eax, "buffer": out.buffers["edi"].hex(), "status": out.status}


def check_batch(n=64):
    calls = [interrupt(0x12) if i % 2 == 0 else interrupt(0x11) for i in range(n)]
    outs = jump(calls)
    return {"ax": [o.regs.ax for o in outs], "status": [o.status for o in outs],
            "cf": [o.regs.cf for o in outs]}


WORKLOAD = """
import hashlib, json, os, sys
d = sys.argv[1]
sums, writes, bad = {}, 0, []
while not os.path.exists(os.path.join(d, "stop")):
    slot = writes % 16
    path = os.path.join(d, "f%d" % slot)
    if slot in sums and hashlib.sha256(open(path, "rb").read()).hexdigest() != sums[slot]:
        bad.append(writes)
    data = os.urandom(65536)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    sums[slot] = hashlib.sha256(data).hexdigest()
    writes += 1
for slot, digest in sums.items():
    if hashlib.sha256(open(os.path.join(d, "f%d" % slot), "rb").read()).hexdigest() != digest:
        bad.append("final f%d" % slot)
json.dump({"writes": writes, "bad": bad}, open(os.path.join(d, "summary"), "w"))
"""


def workload(directory):
    """Writes 16 rotating 64 KiB files, checking each one's last checksum before rewriting it."""
    return subprocess.Popen([sys.executable, "-c", WORKLOAD, directory])


def check_soak(n=200):
    d = "/tmp/physcall-soak"
    os.makedirs(d, exist_ok=True)
    for name in ("stop", "summary"):
        if os.path.exists(os.path.join(d, name)):
            os.unlink(os.path.join(d, name))
    proc = workload(d)
    time.sleep(0.5)
    bad, rts, kinds = [], [], {}
    try:
        for i in range(n):
            kind, calls, good = SOAK_MIX[i % len(SOAK_MIX)](i)
            outs = jump(calls)
            out = outs[-1]
            rts.append(out.timing.get("round_trip"))
            kinds[kind] = kinds.get(kind, 0) + 1
            if any(o.status != "returned" for o in outs) or not good(i, out):
                bad.append((i, kind, out.status, out.regs.ax, out.regs.cf))
    finally:
        open(os.path.join(d, "stop"), "w").close()
        proc.wait(120)
    summary = json.load(open(os.path.join(d, "summary")))
    return {"jumps": n, "bad": bad, "writes": summary["writes"], "lost": summary["bad"], "kinds": kinds,
            "round_trip_min": min(r for r in rts if r), "loaded": kexec.kexec_loaded()}


def _disk_soak(i):
    lba = (i * 8) % (disk.SECTORS - 8)
    return ("int13/42", [disk_read(lba, 8)],
            lambda i, out: not out.regs.cf and out.buffers["es_bx"] == b"".join(disk.sector(lba + k) for k in range(8)))


# The soak's mix: services that run with interrupts enabled (int 1Ah/16h), wait for one (int 15h
# AH=86h, sti; hlt), read the disk, and the plain int 12h; each checked against what it must give.
SOAK_MIX = [
    lambda i: ("int12", [interrupt(0x12)], lambda i, out: out.regs.ax == first_ax(i, out)),
    lambda i: ("int1a/00", [interrupt(0x1A, ah=0x00)], lambda i, out: True),
    lambda i: ("int16/02", [interrupt(0x16, ah=0x02)], lambda i, out: True),
    lambda i: ("int16/05+00", [interrupt(0x16, ah=0x05, cx=0x1E61), interrupt(0x16, ah=0x00)],
               lambda i, out: out.regs.ax == 0x1E61),
    lambda i: ("int15/86", [interrupt(0x15, ah=0x86, cx=0, dx=5000)], lambda i, out: not out.regs.cf),
    _disk_soak,
]


_AX = []


def first_ax(i, out):
    """The int 12h answer of the soak's first int 12h jump: every later one must equal it."""
    if not _AX:
        _AX.append(out.regs.ax)
    return _AX[0]


def check_load_elf(path):
    """Debian's kexec-tools loads `physcall build`'s ELF; then unload (a jump is not needed here)."""
    lay = lay_out([interrupt(0x12)])
    image.write_elf(lay, path)
    runs = {}
    for style in ("--args-none", None):
        argv = ["kexec", "--load-preserve-context", "--mem-max=0x9ffff", path] + ([style] if style else [])
        p = subprocess.run(argv, capture_output=True, text=True)
        loaded = kexec.kexec_loaded()
        subprocess.run(["kexec", "-u"], capture_output=True)
        runs[style or "default"] = {"rc": p.returncode, "err": p.stderr[-1500:], "loaded": loaded,
                                    "after_unload": kexec.kexec_loaded()}
    # The bonus: kexec-tools makes the jump itself (reboot(LINUX_REBOOT_CMD_KEXEC) returns for a
    # preserve-context image).  Without a mailbox the results stay in the image's hidden copy.
    subprocess.run(["kexec", "--load-preserve-context", "--mem-max=0x9ffff", path, "--args-none"], check=True)
    p = subprocess.run(["kexec", "-e"], capture_output=True, text=True)
    runs["exec"] = {"rc": p.returncode, "err": p.stderr[-1500:], "loaded": kexec.kexec_loaded()}
    subprocess.run(["kexec", "-u"], capture_output=True)
    runs["exec"]["after_unload"] = kexec.kexec_loaded()
    return runs


def check_refusals(elf_path):
    """Each refusal, and /sys/kernel/kexec_loaded after it."""
    from physcall.errors import ConfirmationRequired, LayoutError, PreflightError
    res = {}
    lay = lay_out([interrupt(0x12)])
    try:
        kexec.run_kexec(lay)
        res["no_confirm"] = "jumped"
    except ConfirmationRequired:
        res["no_confirm"] = "refused"
    res["no_confirm_loaded"] = kexec.kexec_loaded()
    bad = Layout(regions=[(0x500, b"\xcb")], calls=lay.calls, stack=None)
    try:
        jump(bad)
        res["page0"] = "jumped"
    except LayoutError as exc:
        res["page0"] = "refused: %s" % exc
    res["page0_loaded"] = kexec.kexec_loaded()
    image.write_elf(lay, elf_path)                 # someone else's image: kexec-tools loads it
    p = subprocess.run(["kexec", "--load-preserve-context", "--mem-max=0x9ffff", elf_path, "--args-none"],
                       capture_output=True, text=True)
    res["other_loaded_rc"] = p.returncode
    res["other_loaded"] = kexec.kexec_loaded()
    try:
        jump(lay)
        res["other"] = "jumped"
    except PreflightError as exc:
        res["other"] = "refused: %s" % exc
    res["other_still_loaded"] = kexec.kexec_loaded()
    out, = jump(lay, force=True)
    res["forced_ax"] = out.regs.ax
    res["forced_loaded"] = kexec.kexec_loaded()
    return res


NOT_ROOT = """
import json, os, sys
os.setgid(65534); os.setuid(65534)
from physcall import kexec
from physcall.call import interrupt
from physcall.errors import PhyscallError
from physcall.layout import lay_out
try:
    kexec.run_kexec(lay_out([interrupt(0x12)]), confirm=True)
    print(json.dumps({"result": "jumped"}))
except PhyscallError as exc:
    print(json.dumps({"result": "refused", "type": type(exc).__name__, "message": str(exc)}))
"""


def check_error_paths():
    """Refusals that need a live kernel: not root, the lock held elsewhere, a failure after the load."""
    from physcall.errors import BackendError
    res = {}
    lay = lay_out([interrupt(0x12)])
    p = subprocess.run([sys.executable, "-c", NOT_ROOT], capture_output=True, text=True)
    res["not_root"] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else p.stderr[-2000:]
    res["not_root_loaded"] = kexec.kexec_loaded()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom physcall import kexec\n"
                               "with kexec.JumpLock():\n    print('held', flush=True)\n    time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()
        try:
            jump(lay, timeout=0.5)
            res["locked"] = "jumped"
        except BackendError as exc:
            res["locked"] = "refused: %s" % exc
    finally:
        holder.kill()
        holder.wait()
    res["locked_loaded"] = kexec.kexec_loaded()
    real = kexec.reboot_kexec
    def broken():
        res["loaded_at_failure"] = kexec.kexec_loaded()
        raise OSError(5, "injected failure after kexec_load")
    kexec.reboot_kexec = broken
    try:
        jump(lay)
        res["after_load"] = "jumped"
    except OSError as exc:
        res["after_load"] = "raised: %s" % exc
    finally:
        kexec.reboot_kexec = real
    res["after_load_loaded"] = kexec.kexec_loaded()
    with kexec.JumpLock(timeout=0):              # the lock was released on the error path
        res["lock_free"] = True
    return res


def check_disable_then_refuse():
    """kexec_load_disabled=1 (irreversible until reboot: run last, or in a guest of its own)."""
    from physcall.errors import PreflightError
    with open("/proc/sys/kernel/kexec_load_disabled", "w") as f:
        f.write("1")
    try:
        jump([interrupt(0x12)])
        return {"result": "jumped", "loaded": kexec.kexec_loaded()}
    except PreflightError as exc:
        return {"result": "refused", "message": str(exc), "loaded": kexec.kexec_loaded()}


CHECKS = {"errorpaths": check_error_paths, "refusals": check_refusals, "disable": check_disable_then_refuse, "int12": check_int12, "e820": check_e820, "smbios": check_smbios, "batch": check_batch,
          "soak": check_soak, "load_elf": check_load_elf}


def main(argv, checks=None, script="inguest.py"):
    """Run ``CHECK [ARGS]`` from ``checks`` (digits become ints); its result as one JSON line on stdout.

    Refuses outside the guest: the checks pass the jump confirmation themselves."""
    if not in_guest():
        sys.stderr.write("%s: refusing: not inside physcall's QEMU guest (physcall.guest=1)\n" % script)
        return 3
    name, args = argv[0], [int(a) if a.isdigit() else a for a in argv[1:]]
    started = time.monotonic()
    result = (CHECKS if checks is None else checks)[name](*args)
    result["seconds"] = time.monotonic() - started
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
