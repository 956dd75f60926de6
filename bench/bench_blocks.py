"""Distinct translated blocks of `physcall explore`'s two routines, counted in the emulator.

    python3 bench/bench_blocks.py [--firmware PATH]

Under TCG a jump translates the image's code afresh and each block's first run costs ~14 K cycles
(docs/DESIGN.md, "What a jump costs under TCG"), so the count of distinct blocks a routine runs is what
its code costs a jump, and Unicorn (QEMU's TCG underneath) counts the same blocks: this is a
deterministic stand-in for bench_jump.py's in-image time, seconds to run and no guest.  Prints, per
firmware (the stub BIOS and the SeaBIOS snapshot in tests/data, or --firmware), each routine's
distinct blocks and block runs.
"""

import argparse
import gzip
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
SNAPSHOT = os.path.join(os.path.dirname(HERE), "tests", "data", "seabios-qemu-256M.elf.gz")


def count(machine, call):
    """(distinct blocks, block runs) of ``call``'s own code, and its Outcome."""
    from unicorn import UC_HOOK_BLOCK
    from physcall.layout import lay_out
    layout = lay_out([call])
    lo, hi = layout.calls[0].code
    runs = {}

    def on_block(uc, address, size, data):
        if lo <= address < hi:
            runs[address] = runs.get(address, 0) + 1

    hook = machine.uc.hook_add(UC_HOOK_BLOCK, on_block)
    try:
        out = machine.run(layout)[0]
    finally:
        machine.uc.hook_del(hook)
    return len(runs), sum(runs.values()), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firmware", action="append", help="a snapshot (ELF core or raw first MiB); repeatable")
    args = ap.parse_args()
    from physcall.emulator.firmware import resolve
    from physcall.errors import PhyscallError
    from physcall.emulator.machine import Machine
    from physcall.explore import survey_calls
    with tempfile.TemporaryDirectory() as tmp:
        firmware = args.firmware
        if not firmware:
            snapshot = os.path.join(tmp, "seabios-qemu-256M.elf")
            with gzip.open(SNAPSHOT) as src, open(snapshot, "wb") as dst:
                dst.write(src.read())
            firmware = ["stub", snapshot]
        resolved = []
        for spec in firmware:
            try:
                resolved.append((spec, resolve(spec)))
            except PhyscallError as exc:
                sys.exit("bench_blocks: %s" % exc)
        print("%-30s %-6s %8s %10s" % ("firmware", "call", "blocks", "block runs"))
        for spec, fw in resolved:
            label = "SeaBIOS snapshot (tests/data)" if not args.firmware and spec != "stub" else fw.name
            machine = Machine(fw)
            for name, call in survey_calls():
                blocks, runs, out = count(machine, call)
                if out.status != "returned":
                    sys.exit("bench_blocks: the %s routine %s on %s" % (name, out.status, label))
                print("%-30s %-6s %8d %10d" % (label[:30], name, blocks, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
