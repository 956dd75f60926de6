"""Runs INSIDE physcall's QEMU guest: BIOS services that enable interrupts, wait or read the disk, for
real, many jumps in one process; results as one JSON line on stdout.

``python3 tests/guest/inguest_bios.py CHECK [ARGS]``.  Refuses outside the guest (it passes the jump
confirmation itself).  The host side (test_interrupts.py) holds the results against oracles: the disk
image's sector pattern (physcall.vm.disk), /proc/interrupts, the kernel's log.
"""

import json
import sys
import time

from physcall import kexec
from physcall.call import Buffer, Routine, interrupt
from physcall.layout import lay_out
from physcall.services import disk_read
from physcall.vm import disk

def jump(calls):
    return kexec.run_kexec(lay_out(calls), confirm=True)


def interrupts():
    """/proc/interrupts as {name: count} for the lines physcall watches (LOC, ttyS0, ttyS1, timer...)."""
    counts = {}
    with open("/proc/interrupts") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                continue
            key = parts[0].rstrip(":")
            name = parts[-1] if not key.isalpha() else key
            counts[name] = int(parts[1])
    return counts


def ms(outcome):
    mhz = outcome.timing.get("tsc_mhz")
    return outcome.timing["call"] / mhz / 1000.0 if mhz else None


def chs_read(lba, count=1):
    cyl, rest = divmod(lba, disk.HEADS * disk.SECTORS_PER_TRACK)
    head, sec = divmod(rest, disk.SECTORS_PER_TRACK)
    return interrupt(0x13, ah=0x02, al=count, ch=cyl & 0xFF, cl=(sec + 1) | (cyl >> 8) << 6, dh=head,
                     dl=0x80, es_bx=Buffer(512 * count))


def pattern_ok(data, lba):
    return all(data[i * 512:(i + 1) * 512] == disk.sector(lba + i) for i in range(len(data) // 512))


def summary(out):
    return {"regs": out.regs.as_dict(), "status": out.status,
            "buffers": {k: v.hex() for k, v in out.buffers.items()}}


# ---- checks -------------------------------------------------------------------------------------

IRQ_CALLS = {
    "1a00": lambda: interrupt(0x1A, ah=0x00),
    "1601": lambda: interrupt(0x16, ah=0x01),
    "1602": lambda: interrupt(0x16, ah=0x02),
    "1612": lambda: interrupt(0x16, ah=0x12),
    "sti": lambda: Routine("sti\nnop\npause\ncli\nret"),
}


def check_irq(n=20):
    """Each service that runs `sti` n times, one jump each; the controllers as the trampoline saw them."""
    before = interrupts()
    seen = {}
    for name, make in IRQ_CALLS.items():
        rows = []
        for _ in range(n):
            out, = jump([make()])
            irq = out.extra["irq"]
            rows.append({"status": out.status, "ax": out.regs.ax, "isr_after": irq["after"]["isr"],
                         "pic_isr_after": irq["after"]["pic_isr"], "eois": irq["eois"],
                         "tpr": [irq["before"]["tpr"], irq["after"]["tpr"]],
                         "imr": [irq["before"]["pic_imr"], irq["after"]["pic_imr"]]})
        seen[name] = rows
    after_jumps = interrupts()
    time.sleep(0.5)
    with open("/dev/ttyS0", "w") as console:          # the console UART's transmit interrupts
        console.write("physcall: interrupts after %d jumps\n" % (n * len(IRQ_CALLS)) * 20)
    for _ in range(30):                                # up to 3 s for the transmit interrupts
        time.sleep(0.1)
        if interrupts().get("ttyS0", 0) > after_jumps.get("ttyS0", 0):
            break
    time.sleep(0.2)
    return {"before": before, "after_jumps": after_jumps, "after_wait": interrupts(), "calls": seen,
            "loaded": kexec.kexec_loaded()}


def check_wait(us=100000, n=3):
    """int 15h AH=86h (wait CX:DX microseconds): needs the RTC's periodic interrupt and `sti; hlt`."""
    rows = []
    for _ in range(n):
        out, = jump([interrupt(0x15, ah=0x86, cx=us >> 16, dx=us & 0xFFFF)])
        rows.append({"status": out.status, "cf": out.regs.cf, "ah": out.regs.ah, "ms": ms(out),
                     "cmos_b": [out.extra["irq"]["before"]["cmos_b"], out.extra["irq"]["after"]["cmos_b"]]})
    # The BIOS's own timer (IRQ0 -> int 08h at 18.2 Hz) ticks while a call waits: the BDA tick count
    # that int 1Ah AH=00h reads advances across a 200 ms wait inside one jump.
    first, wait, last = jump([interrupt(0x1A, ah=0x00), interrupt(0x15, ah=0x86, cx=3, dx=0x0D40),
                              interrupt(0x1A, ah=0x00)])
    ticks = [(o.regs.cx << 16) | o.regs.dx for o in (first, last)]
    return {"rows": rows, "tsc_mhz": out.timing.get("tsc_mhz"), "ticks": ticks, "wait_ms": ms(wait),
            "midnight": [first.regs.al, last.regs.al]}


def check_keys(scan_ascii=0x1E61):
    """int 16h AH=05h puts a key in the BIOS's buffer; AH=01h sees it; AH=00h takes it; AH=01h: empty."""
    outs = jump([interrupt(0x16, ah=0x05, cx=scan_ascii), interrupt(0x16, ah=0x01),
                 interrupt(0x16, ah=0x00), interrupt(0x16, ah=0x01)])
    irq = outs[-1].extra["irq"]
    return {"calls": [summary(o) for o in outs], "irq_calls": irq["calls"], "isr_after": irq["after"]["isr"],
            "imr": [irq["before"]["pic_imr"], irq["after"]["pic_imr"]]}


def check_disk():
    """int 13h on drive 80h: CHS and LBA reads, geometry, size, and an LBA past the end."""
    lbas = [0, 1, 62, 63, 1007, 1008, disk.chs_to_lba(7, 15, 63)]
    chs = jump([chs_read(lba) for lba in lbas] + [chs_read(100, count=8)])
    ext = jump([disk_read(lba, 4) for lba in (0, 4000, disk.SECTORS - 4)]
               + [disk_read(disk.SECTORS, 1), disk_read(disk.SECTORS - 1, 1)])
    params = jump([interrupt(0x13, ah=0x08, dl=0x80, es=0, di=0),
                   interrupt(0x13, ah=0x41, bx=0x55AA, dl=0x80),
                   interrupt(0x13, ah=0x48, dl=0x80, ds_si=Buffer(data=b"\x1a\x00", size=0x1A))])
    return {"chs": [dict(summary(o), lba=lba, ok=pattern_ok(o.buffers["es_bx"], lba))
                    for o, lba in zip(chs, lbas + [100])],
            "ext": [dict(summary(o), lba=lba, ok=o.regs.cf or pattern_ok(o.buffers["es_bx"], lba))
                    for o, lba in zip(ext, (0, 4000, disk.SECTORS - 4, disk.SECTORS, disk.SECTORS - 1))],
            "params": [summary(o) for o in params]}


def matrix_calls():
    """(name, make, repeat, deterministic): 40+ leaves over int 10h, 11h, 12h, 13h, 15h, 16h and 1Ah;
    ``make()`` gives a call or a list of calls for one jump.

    20 jumps for the leaves that enable interrupts or wait, 3 for the rest."""
    b = Buffer
    rows = [
        ("10/0f", lambda: interrupt(0x10, ah=0x0F), 3, True),
        ("10/03", lambda: interrupt(0x10, ah=0x03, bh=0), 3, False),
        ("10/0e", lambda: interrupt(0x10, ax=0x0E2E, bx=0x0007), 3, False),
        ("10/08", lambda: interrupt(0x10, ah=0x08, bh=0), 3, False),
        ("10/1a", lambda: interrupt(0x10, ax=0x1A00), 3, True),
        ("10/12", lambda: interrupt(0x10, ah=0x12, bl=0x10), 3, True),
        ("10/4f00", lambda: interrupt(0x10, ax=0x4F00, es_di=b(data=b"VBE2", size=512)), 3, True),
        ("10/4f01", lambda: interrupt(0x10, ax=0x4F01, cx=0x101, es_di=b(256)), 3, True),
        ("10/4f03", lambda: interrupt(0x10, ax=0x4F03), 3, True),
        ("10/4f15", lambda: interrupt(0x10, ax=0x4F15, bl=0x01, cx=0, dx=0, es_di=b(128)), 3, True),
        ("11", lambda: interrupt(0x11), 3, True),
        ("12", lambda: interrupt(0x12), 3, True),
        ("13/00", lambda: interrupt(0x13, ah=0x00, dl=0x80), 20, True),
        ("13/01", lambda: interrupt(0x13, ah=0x01, dl=0x80), 3, False),
        ("13/02", lambda: chs_read(500, 2), 20, True),
        ("13/08", lambda: interrupt(0x13, ah=0x08, dl=0x80, es=0, di=0), 3, True),
        ("13/15", lambda: interrupt(0x13, ah=0x15, dl=0x80), 3, True),
        ("13/41", lambda: interrupt(0x13, ah=0x41, bx=0x55AA, dl=0x80), 3, True),
        ("13/42", lambda: disk_read(2000, 8), 20, True),
        ("13/48", lambda: interrupt(0x13, ah=0x48, dl=0x80, ds_si=b(data=b"\x1a\x00", size=0x1A)), 3, True),
        ("15/86", lambda: interrupt(0x15, ah=0x86, cx=0, dx=10000), 20, False),
        ("15/c0", lambda: interrupt(0x15, ah=0xC0), 3, True),
        ("15/e801", lambda: interrupt(0x15, ax=0xE801), 3, True),
        ("15/e820", lambda: interrupt(0x15, eax=0xE820, ebx=0, ecx=24, edx=0x534D4150, es_di=b(24)), 3, True),
        ("15/88", lambda: interrupt(0x15, ah=0x88), 3, True),
        ("15/2402", lambda: interrupt(0x15, ax=0x2402), 3, True),
        ("15/2403", lambda: interrupt(0x15, ax=0x2403), 3, True),
        ("15/5300", lambda: interrupt(0x15, ax=0x5300, bx=0), 3, True),
        ("16/01", lambda: interrupt(0x16, ah=0x01), 20, False),
        ("16/02", lambda: interrupt(0x16, ah=0x02), 20, False),
        ("16/09", lambda: interrupt(0x16, ah=0x09), 20, False),
        ("16/11", lambda: interrupt(0x16, ah=0x11), 20, False),
        ("16/12", lambda: interrupt(0x16, ah=0x12), 20, False),
        # AH=00h/10h wait for a key: each jump first puts one in the buffer with AH=05h.
        ("16/05+00", lambda: [interrupt(0x16, ah=0x05, cx=0x2064), interrupt(0x16, ah=0x00)], 20, True),
        ("16/05+10", lambda: [interrupt(0x16, ah=0x05, cx=0x2165), interrupt(0x16, ah=0x10)], 20, True),
        ("1a/00", lambda: interrupt(0x1A, ah=0x00), 20, False),
        ("1a/02", lambda: interrupt(0x1A, ah=0x02), 3, False),
        ("1a/04", lambda: interrupt(0x1A, ah=0x04), 3, False),
        ("1a/b101", lambda: interrupt(0x1A, ax=0xB101, edi=0), 3, True),
        ("1a/b102", lambda: interrupt(0x1A, ax=0xB102, cx=0x1237, dx=0x8086, si=0), 3, True),
        ("1a/b108", lambda: interrupt(0x1A, ax=0xB108, bx=0, di=0), 3, True),
    ]
    return rows


def check_matrix():
    """Every leaf of matrix_calls(), one jump per repetition, in this one process."""
    before = interrupts()
    result = {}
    for name, make, repeat, deterministic in matrix_calls():
        outs = []
        for _ in range(repeat):
            calls = make()
            outs.append(jump(calls if isinstance(calls, list) else [calls])[-1])
        result[name] = {"n": len(outs), "statuses": sorted({o.status for o in outs}),
                        "distinct": len({json.dumps(summary(o), sort_keys=True) for o in outs}),
                        "deterministic": deterministic, "first": summary(outs[0])}
    time.sleep(0.5)
    return {"leaves": result, "before": before, "after": interrupts(), "loaded": kexec.kexec_loaded()}


CHECKS = {"irq": check_irq, "wait": check_wait, "keys": check_keys, "disk": check_disk,
          "matrix": check_matrix}


if __name__ == "__main__":
    import inguest          # the other in-guest checks' runner (this directory is first on sys.path)
    sys.exit(inguest.main(sys.argv[1:], CHECKS, "inguest_bios.py"))
