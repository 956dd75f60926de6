"""Peers to measure physcall against, each in a venv of its own: never a physcall dependency.

qiling (pinned: the version issue 12 measured) lives in ``~/.cache/physcall/peers/qiling-<version>/``,
a venv that this script makes; physcall's own venv never sees it.  bench_emulator.py runs this same
file in that venv's interpreter (``peers.py qiling-loop DIR``), so this file imports only the standard
library at the top: physcall is not installed there.

  .venv/bin/python bench/peers.py setup   # make the venv and pip-install qiling==QILING into it
  .venv/bin/python bench/peers.py path    # where it is

qiling's DOS mode (qiling/loader/dos.py) takes a bare .COM by its file name, ``*.DOS_COM``, loads it
at its profile's COM start_cs:start_ip (075A:0100), and needs a rootfs directory (an empty one does:
only its file services look there); int 21h AH=4Ch stops the run.
"""

import os
import pathlib
import subprocess
import sys
import time

QILING = "1.4.6"


def peer_dir(name="qiling", version=QILING):
    """The peer's venv: ``<physcall cache>/peers/<name>-<version>`` (physcall.cache owns the base)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from physcall import cache
    return cache.base() / "peers" / ("%s-%s" % (name, version))


def peer_python(name="qiling", version=QILING):
    """The peer venv's interpreter, or None when it has not been set up."""
    python = peer_dir(name, version) / "bin" / "python"
    return python if python.exists() else None


SETUP_COMMAND = ".venv/bin/python bench/peers.py setup"


def setup(version=QILING):
    """Make the venv (with the interpreter that runs this) and install the pinned qiling into it."""
    from physcall import cache
    target = peer_dir("qiling", version)
    cache.cache_dir("peers")                    # created 0700 and checked like the rest of the cache
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True)
    subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "qiling==%s" % version], check=True)
    out = subprocess.run([str(target / "bin" / "python"), "-c", "import qiling; print(qiling.__version__)"],
                         check=True, capture_output=True, text=True).stdout.strip()
    print("qiling %s in %s" % (out, target))


def qiling_loop(root, counts, repeat):
    """In the peer venv: run ``root/LOOP<n>.DOS_COM`` for each n, ``repeat`` times each, a new Qiling
    per run (it runs a program once); print ``n best_seconds`` per n.  Only ``ql.run()`` is timed."""
    from qiling import Qiling
    from qiling.const import QL_VERBOSE
    for n in counts:
        best = None
        for _ in range(repeat):
            ql = Qiling([os.path.join(root, "LOOP%d.DOS_COM" % n)], root, verbose=QL_VERBOSE.DISABLED)
            t = time.perf_counter()
            ql.run()
            t = time.perf_counter() - t
            if ql.arch.regs.si != 0:
                raise SystemExit("qiling: the loop of %d stopped early (si=%d)" % (n, ql.arch.regs.si))
            best = t if best is None else min(best, t)
        print(n, best)


def main(argv):
    if argv[:1] == ["setup"]:
        setup()
    elif argv[:1] == ["path"]:
        print(peer_dir())
    elif argv[:1] == ["qiling-loop"] and len(argv) == 4:
        qiling_loop(argv[1], [int(n) for n in argv[2].split(",")], int(argv[3]))
    else:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
