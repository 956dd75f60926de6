"""What every example shares: ``--backend`` (and ``--yes`` for a real jump on this machine), and one
guest for everything a ``--backend vm`` run asks, however many calls it makes (a boot costs seconds,
a jump milliseconds)."""

import argparse
import contextlib


def parser(doc):
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--backend", default="emulator", help="emulator (default), vm or kexec")
    ap.add_argument("--yes", action="store_true", help="confirm a real jump on this machine (kexec)")
    return ap


@contextlib.contextmanager
def backend(args):
    """invoke() options for the chosen backend; with vm, one Session (one guest) for the whole run."""
    if args.backend in ("vm", "qemu", "guest"):
        from physcall.vmbackend import Session
        with Session() as vm:
            yield {"backend": "vm", "session": vm}
    elif args.backend in ("emulator", "emu", "unicorn", "dry"):
        yield {"backend": "emulator"}
    else:
        yield {"backend": args.backend, "confirm": args.yes}


def run(show, doc):
    """``main()`` of an example: parse the options, open the backend once, ``show(**options)``."""
    args = parser(doc).parse_args()
    with backend(args) as options:
        show(**options)
