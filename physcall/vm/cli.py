"""``physcall vm setup|run|shell``: the test machine from the command line.

Example::

    $ physcall vm setup --json
    $ physcall vm run --timeout 30 -- python3 -c 'import physcall; print(physcall.__file__)'
    $ physcall vm shell            # busybox/host sh on the guest console; `exit` powers off
"""

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile

from physcall.errors import PhyscallError

EXIT_TIMEOUT = 124  # like timeout(1)


def add_subparsers(subparsers):
    """Register ``vm`` with its ``setup``, ``run`` and ``shell`` commands on an argparse subparsers."""
    vm = subparsers.add_parser("vm", help="the QEMU test machine (SeaBIOS + KEXEC_JUMP kernel)")
    sub = vm.add_subparsers(metavar="VMCOMMAND")
    p = sub.add_parser("setup", help="fetch linux-source-6.12 and build the guest kernel + initramfs")
    p.add_argument("--json", action="store_true", help="print paths, versions and seconds as JSON")
    p.add_argument("--refresh", action="store_true", help="re-download the kernel source package")
    p.set_defaults(func=cmd_setup)
    p = sub.add_parser("run", help="boot a guest, run one command in it, pass its exit code through")
    _guest_options(p)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds for the command (default 120)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("shell", help="boot a guest with an interactive shell on the console")
    _guest_options(p)
    p.set_defaults(func=cmd_shell)
    p = sub.add_parser("snapshot", help="boot a guest and write its firmware snapshot (an ELF core) here")
    _guest_options(p)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_snapshot)
    vm.set_defaults(func=lambda args: vm.error("give a vm command: setup, run, shell or snapshot"))
    return vm


def _guest_options(p):
    p.add_argument("--memory", default="256M", help="guest RAM, QEMU -m syntax (default 256M)")
    p.add_argument("--accel", default="auto", choices=("auto", "tcg", "kvm"), help="auto = tcg")


def _progress(message):
    print("physcall vm: %s" % message, file=sys.stderr, flush=True)


def cmd_setup(args):
    from physcall.vm import setup
    info = setup(progress=_progress, refresh=args.refresh)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print("%-15s %s" % (key, value))
    return 0


def cmd_run(args):
    from physcall.vm import Guest, GuestTimeout
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        print("physcall vm run: no command; usage: physcall vm run -- CMD ARGS...", file=sys.stderr)
        return 2
    try:
        with Guest(memory=args.memory, accel=args.accel) as guest:
            rc, out, err = guest.run(argv, timeout=args.timeout)
    except GuestTimeout as exc:
        print(exc, file=sys.stderr)
        return EXIT_TIMEOUT
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    return rc


def cmd_snapshot(args):
    """The guest's own snapshot (what the vm backend's dry run runs), written to a host file."""
    from physcall import snapshot
    from physcall.vm import Guest
    with Guest(memory=args.memory, accel=args.accel) as guest:
        summary = snapshot.from_guest(guest, args.output)
    summary["path"] = args.output
    if args.json:
        print(json.dumps(summary))
    else:
        print("wrote %s: %s" % (args.output, ", ".join("%s at %#x" % (t["name"], t["phys"])
                                                      for t in summary["tables"]) or "no tables"))
    return 0


def cmd_shell(args):
    """QEMU in the foreground with ttyS0 on this terminal; the agent still runs on ttyS1."""
    from physcall.vm import guest
    image, parts = guest.find_artifacts()
    with tempfile.TemporaryDirectory(prefix="physcall-vm-") as tmp:
        initrd = guest.join_initrd(parts, tmp)
        listener = socket.socket(socket.AF_UNIX)  # QEMU connects ttyS1 here; nobody talks on it
        listener.bind(os.path.join(tmp, "chan.sock"))
        listener.listen(1)
        argv = guest.qemu_argv(image, initrd, tmp, args.memory, guest.resolve_accel(args.accel),
                               console="stdio", disk=guest.disk_mod.build_disk())
        print("physcall vm shell: booting (exit the shell to power off)", file=sys.stderr)
        return subprocess.call(argv, preexec_fn=guest._die_with_parent)


def main(argv=None):
    """``python3 -m physcall.vm ...``: the same commands without the top-level ``physcall``."""
    parser = argparse.ArgumentParser(prog="python3 -m physcall.vm")
    parser.add_argument("-v", "--verbose", action="store_true")
    add_subparsers(parser.add_subparsers(metavar="COMMAND"))
    args = parser.parse_args(["vm"] + list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="physcall: %(message)s")
    try:
        return args.func(args)
    except PhyscallError as exc:
        print(exc, file=sys.stderr)
        return 1
