"""``Guest``: a QEMU ``-machine pc`` guest with SeaBIOS and the KEXEC_JUMP kernel, driven from Python.

The guest runs from RAM: its initramfs carries the host's Python, the site-packages physcall needs,
kexec-tools, hwinfo, vbetool and a snapshot of this checkout, at their host paths (see ``payload``; no
virtio device, since virtio-9p dies at the first kexec jump). Commands go over the guest's second 8250 UART (ttyS1), which QEMU connects to a unix socket in a private 0700
directory; the 8250 is the channel that survives the device freeze/thaw of a kexec jump. It moves
~0.2-0.3 MB/s under TCG (1 MiB of stdout in ~4.7 s): reduce bulk data in the guest, return results.
One caller at a time: ``run`` is not thread-safe.

Running physcall itself in the guest (what the vm backend does)::

    guest.run([guest.python, "-m", "physcall", ...])   # guest.python == the host's real interpreter,
                                                      # cwd and PYTHONPATH default to this checkout

Example::

    >>> from physcall.vm import Guest
    >>> with Guest() as g:                                   # doctest: +SKIP
    ...     rc, out, err = g.run(["python3", "-c", "import physcall; print(physcall.__file__)"])
    >>> rc, out                                              # doctest: +SKIP
    (0, b'/work/main/physcall/__init__.py\\n')
"""

import atexit
import base64
import json
import logging
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from typing import NamedTuple

from physcall import cache, hostlib, resources, toolchain
from physcall.vm import disk as disk_mod
from physcall.vm import host, initramfs, kernel, payload
from physcall.vm.errors import GuestError, GuestTimeout

log = logging.getLogger("physcall.vm")
CHECKOUT = str(resources.ROOT)          # where guest commands run: the directory that holds physcall/
GRACE = 15.0  # seconds the agent may take beyond a command's own timeout before QEMU is killed
# The longest agent line the host reads; the guest is not trusted to bound its own output. 64 MiB of
# base64 is ~48 MiB of stdout, about 3 minutes of the 0.2-0.3 MB/s channel.
MAX_LINE = 64 << 20
_LIVE = weakref.WeakSet()


class Result(NamedTuple):
    """A guest command's outcome; unpacks as ``rc, stdout, stderr`` (stdout/stderr are bytes)."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self):
        """stdout decoded as UTF-8 (errors replaced)."""
        return self.stdout.decode(errors="replace")


def find_artifacts():
    """``(bzImage, [initramfs, payload])``; GuestError with the fix if ``vm setup`` never ran.

    The payload is repacked here when the checkout or the host's files changed (about a second).
    """
    debs = sorted(host.cache_dir("apt", "debs").glob(kernel.PACKAGE + "_*_all.deb"))
    image = None
    if debs:
        image = host.cache_dir("kernel") / kernel.cache_key(kernel.deb_version(debs[-1])) / "bzImage"
    if image is None or not image.is_file():
        raise GuestError("physcall vm: no guest kernel for the current kernel.fragment in %s\n"
                         "  fix: run `physcall vm setup` (or physcall.vm.setup())" % host.cache_dir("kernel"))
    parts = [initramfs.build_initramfs(), payload.build_payload()]
    return (cache.trusted_file(image, "guest kernel"),
            [cache.trusted_file(p, "guest initramfs") for p in parts])


def resolve_accel(accel):
    """``auto`` means TCG: /dev/kvm on the reference machine is kvm-pvm, which failed to run Linux."""
    if accel not in ("auto", "tcg", "kvm"):
        raise GuestError("physcall vm: unknown accel %r; choose auto, tcg or kvm" % (accel,))
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise GuestError("physcall vm: accel=kvm but /dev/kvm is missing or not accessible; use accel='tcg'")
    return "tcg" if accel == "auto" else accel


# TCG's translation buffer, MiB.  QEMU's default (1 GiB) never fills in a guest's life, so every block
# the guest ever translated stays and its hash table grows with them (~170 K blocks after a boot and
# one `physcall explore`, 64 K buckets, by QEMU's `info jit`).  A buffer that fills and flushes keeps
# them few and close, and the firmware runs much faster for it (which of the two matters is not
# measured).  bench/bench_jump.py run with each, back to back (in-image lower quartiles): 64 x int 12h
# 8.7 -> 5.7 M cycles, explore 6.7 -> 5.4 M, 64 disk sectors 17.0 -> 13.2 M; the empty jump the same
# (0.12 M), a boot and a guest Python run as fast.  32 measured the same; 64 flushes half as often
# under guest Python work (a boot alone translates ~20 MiB).  docs/DESIGN.md, "What a jump costs".
TCG_TB_SIZE_MB = 64


def qemu_argv(image, initrd, workdir, memory="256M", accel="tcg", python=None, console=None, append="",
              disk=None):
    """The QEMU command line: pc machine (SeaBIOS), no network, no virtio, two 8250 ports; under TCG a
    translation buffer of TCG_TB_SIZE_MB.

    ``console`` is None (ttyS0 to ``workdir/serial.log``) or ``"stdio"`` (interactive shell).
    ``disk``: a raw image attached as IDE hard disk 80h (physcall.vm.disk), or None.
    """
    con = ("stdio,id=con,signal=off" if console == "stdio"
           else "file,id=con,path=%s" % os.path.join(workdir, "serial.log"))
    # tsc=reliable: under TCG the jiffies watchdog runs late and would mark QEMU's (host-clock based)
    # TSC unstable, leaving refined-jiffies (4 ms steps) as the guest's clock.
    # rootfstype=ramfs: a tmpfs rootfs is capped at half the RAM left beside the initrd (~77 MB of 256)
    # and the ~90 MB payload would not fit (init/do_mounts.c: init_rootfs).
    cmdline = ("console=ttyS0,115200 panic=-1 tsc=reliable rootfstype=ramfs physcall.python=%s"
               % (python or host_python()))
    if console == "stdio":
        cmdline += " physcall.shell=1 physcall.checkout=%s" % CHECKOUT
    return [
        host.which("qemu-system-x86_64"), "-machine", "pc",
        "-accel", "tcg,tb-size=%d" % TCG_TB_SIZE_MB if accel == "tcg" else accel, "-m", str(memory),
        "-nodefaults", "-no-user-config", "-vga", "std", "-display", "none", "-nic", "none",
        "-monitor", "none", "-no-reboot",
        "-chardev", con, "-serial", "chardev:con",
        "-chardev", "socket,id=chan,path=%s" % os.path.join(workdir, "chan.sock"), "-serial", "chardev:chan",
        "-kernel", str(image), "-initrd", str(initrd), "-append", (cmdline + " " + append).strip(),
    ] + (disk_mod.qemu_args(disk) if disk else [])


def join_initrd(parts, workdir):
    """One ``-initrd`` file: the archives back to back (the kernel unpacks each in turn).

    Each is zero-padded to 512 bytes: init/initramfs.c takes an uncompressed archive only at a 4-byte
    aligned offset and skips zeros between archives.
    """
    path = os.path.join(workdir, "initrd")
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            out.write(b"\0" * (-out.tell() % 512))
    return path


TMP_PREFIX = "physcall-vm-"


def _sweep_stale():
    """Remove private directories of guests whose owner died without cleaning up (SIGKILL: the
    kernel took QEMU with it through PDEATHSIG, but nothing removed the ~90 MB initrd)."""
    for path in pathlib.Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        try:
            if path.lstat().st_uid != os.geteuid():
                continue                     # another user's guest: not ours to remove
            pid = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue                         # not ours to judge (or being created right now)
        if not os.path.exists("/proc/%d" % pid):
            shutil.rmtree(path, ignore_errors=True)


def site_dirs():
    """This process's site-packages: a venv's are not the base interpreter's, which the guest runs,
    so they go on the guest's PYTHONPATH (payload.py packs the dependencies from there)."""
    import sysconfig
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


def host_python():
    """The real interpreter behind this process (not a pyenv shim): the guest runs the same file."""
    return os.path.realpath(sys.executable)


PR_SET_PDEATHSIG = 1                 # linux/prctl.h


def _die_with_parent():
    """preexec_fn: the kernel SIGKILLs QEMU when the thread that started it dies (PR_SET_PDEATHSIG)."""
    hostlib.libc().prctl(PR_SET_PDEATHSIG, hostlib.ffi.cast("unsigned long", signal.SIGKILL))


class Guest:
    """A booted guest; ``run()`` commands in it, ``close()`` (or ``with``) shuts it down.

    ``memory`` is QEMU's ``-m``; ``accel`` auto|tcg|kvm (auto = tcg); ``timeout`` bounds the boot.
    Commands run in ``workdir`` (default: this checkout) with it on PYTHONPATH.
    """

    def __init__(self, memory="256M", accel="auto", timeout=120.0, workdir=CHECKOUT, append=""):
        self.accel = resolve_accel(accel)
        self.memory, self.workdir = memory, workdir
        self.python = host_python()
        self.grace, self.max_line = GRACE, MAX_LINE
        self.trampoline = str(toolchain.build_trampoline())
        self.proc = self._sock = None
        self._buf, self._next_id = b"", 0
        _sweep_stale()
        self.tmpdir = tempfile.mkdtemp(prefix=TMP_PREFIX)  # mkdtemp makes it 0700
        with open(os.path.join(self.tmpdir, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.serial_log = os.path.join(self.tmpdir, "serial.log")
        _LIVE.add(self)
        try:
            self._boot(timeout, append)
        except BaseException:
            self._kill()                # copies the logs to the cache: the 90 MB initrd can go
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise

    def _boot(self, timeout, append):
        image, parts = find_artifacts()
        initrd = join_initrd(parts, self.tmpdir)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.path.join(self.tmpdir, "chan.sock"))
        listener.listen(1)
        argv = qemu_argv(image, initrd, self.tmpdir, self.memory, self.accel, self.python, append=append,
                         disk=disk_mod.build_disk())
        log.debug("starting %s", " ".join(argv))
        started = time.monotonic()
        with open(os.path.join(self.tmpdir, "qemu.log"), "wb") as qlog:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog,
                                         preexec_fn=_die_with_parent)
        deadline = started + timeout
        self._sock = self._accept(listener, deadline)
        ready = self._recv(None, deadline, "waiting for the guest agent to start")
        self.boot_seconds = time.monotonic() - started
        self.guest_uptime = ready.get("uptime")
        log.info("guest ready in %.2f s (accel %s, guest uptime %s s)", self.boot_seconds, self.accel,
                 self.guest_uptime)

    def _accept(self, listener, deadline):
        with listener:
            while True:
                self._check_alive("waiting for QEMU to connect the command channel")
                if select.select([listener], [], [], 0.2)[0]:
                    return listener.accept()[0]
                if time.monotonic() > deadline:
                    self._timeout("QEMU did not connect the command channel")

    # -- the channel -------------------------------------------------------------------------------

    def _send(self, obj):
        try:
            self._sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError as exc:
            self._fail("sending to the guest agent failed: %s" % exc)

    def _recv(self, want_id, deadline, what):
        """The next JSON line (with ``id == want_id``, or the ready line if None) before ``deadline``."""
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                msg = self._parse(line)
                if msg is not None and (msg.get("id") == want_id if want_id is not None else msg.get("ready")):
                    return msg
            if time.monotonic() > deadline:
                self._timeout(what)
            self._check_alive(what)
            if select.select([self._sock], [], [], 0.2)[0]:
                chunk = self._sock.recv(65536)
                if not chunk:
                    self._fail("the guest closed the command channel while %s" % what)
                self._buf += chunk
                if len(self._buf) > self.max_line and b"\n" not in self._buf:
                    self._fail("the guest agent sent a line of more than %d bytes while %s; refused"
                               % (self.max_line, what))

    @staticmethod
    def _parse(line):
        try:
            msg = json.loads(line)
        except ValueError:
            log.debug("guest channel: ignoring non-JSON line %r", line[:200])
            return None
        return msg if isinstance(msg, dict) else None

    def _check_alive(self, what):
        if self.proc is None or self.proc.poll() is not None:
            self._fail("QEMU exited (status %s) while %s" % (self.proc and self.proc.returncode, what))

    def _fail(self, message, cls=GuestError):
        """Kill QEMU, keep the logs, raise ``cls`` naming both logs and the last console lines."""
        self._kill()
        tail = _tail(self.serial_log) or _tail(str(host.cache_dir("logs") / "qemu-last.log"))
        raise cls("physcall vm: %s\n  serial log: %s\n  qemu log: %s\n  last console lines:\n%s"
                  % (message, self.serial_log, host.cache_dir("logs") / "qemu-last.log", tail))

    def _timeout(self, what):
        self._fail("timed out %s; QEMU was killed" % what, GuestTimeout)

    # -- public API ---------------------------------------------------------------------------------

    def run(self, argv, timeout=60.0, input=None, cwd=None, env=None):
        """Run ``argv`` in the guest; returns ``Result(returncode, stdout, stderr)`` with bytes.

        ``env`` is added to the agent's base environment (the host Python's bin dir first on PATH,
        ``PYTHONPATH`` = workdir). On timeout the command's process group is killed in the guest, or
        QEMU itself if the agent does not answer, and ``GuestTimeout`` is raised; ``timeout=None``
        waits as long as the command runs.
        Example: ``rc, out, err = guest.run(["sh", "-c", "exit 7"])`` gives ``rc == 7``.
        """
        if self.proc is None or self.proc.poll() is not None:
            raise GuestError("physcall vm: the guest is not running (closed or crashed); start a new Guest")
        self._next_id += 1
        data = input.encode() if isinstance(input, str) else (input or b"")
        # The payload packs the host's trampoline build at its host path (the guest has no gcc); name
        # it, since the guest's HOME is not the host user's.
        full_env = {"PYTHONPATH": os.pathsep.join([self.workdir] + site_dirs()),
                    "PHYSCALL_TRAMPOLINE": self.trampoline}
        full_env.update(env or {})
        self._send({"id": self._next_id, "op": "run", "argv": [str(a) for a in argv], "timeout": timeout,
                    "stdin_b64": base64.b64encode(data).decode(), "cwd": cwd or self.workdir, "env": full_env})
        limit = float("inf") if timeout is None else timeout + self.grace  # None: wait as long as it runs
        reply = self._recv(self._next_id, time.monotonic() + limit, "running %r" % (argv,))
        if "error" in reply:
            raise GuestError("physcall vm: the guest agent refused %r: %s" % (argv, reply["error"]))
        if reply.get("timed_out"):
            raise GuestTimeout("physcall vm: %r did not finish within %s s in the guest; it was killed "
                               "(the guest is still usable)" % (argv, timeout))
        return _result(reply, argv)

    def read_file(self, path):
        """The bytes of a guest file, e.g. ``guest.read_file('/proc/iomem')``."""
        rc, out, err = self.run(["cat", path])
        if rc != 0:
            raise GuestError("physcall vm: cannot read %s in the guest: %s" % (path, err.decode(errors="replace")))
        return out

    def dmesg(self):
        """The guest kernel's log (``dmesg`` in the guest), e.g. to find its ``BIOS-e820:`` lines.

        After the guest died (panic, triple fault) it is the serial console log instead: post-mortems.
        """
        if self.proc is None or self.proc.poll() is not None:
            return pathlib.Path(self.serial_log).read_text(errors="replace")
        return self.run(["dmesg"]).text

    def close(self, timeout=10.0, graceful=True):
        """Reboot the guest (QEMU runs with -no-reboot, so it exits), then terminate/kill after timeout;
        ``graceful=False`` (after Ctrl-C: the person wants out now) goes straight to terminate/kill."""
        if graceful and self.proc is not None and self.proc.poll() is None and self._sock is not None:
            try:
                self._next_id += 1
                self._sock.sendall(json.dumps({"id": self._next_id, "op": "reboot"}).encode() + b"\n")
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                log.warning("guest did not power off within %s s; killing QEMU", timeout)
        self._kill()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _kill(self):
        """Make sure QEMU is gone; keep a copy of the serial log in the cache for debugging."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        # copy_in renames over the destination: a symlink planted there is replaced, not written through
        if os.path.isfile(self.serial_log) and self.tmpdir in self.serial_log:
            self.serial_log = str(cache.copy_in(self.serial_log, host.cache_dir("logs") / "serial-last.log"))
        qemu_log = os.path.join(self.tmpdir, "qemu.log")
        if os.path.isfile(qemu_log):
            cache.copy_in(qemu_log, host.cache_dir("logs") / "qemu-last.log")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(graceful=exc_type is not KeyboardInterrupt)

    def __del__(self):
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self._kill()


def _result(reply, argv):
    """The agent's answer as a Result, checked field by field: it comes from the untrusted guest."""
    try:
        rc = reply["rc"]
        if type(rc) is not int:
            raise TypeError("rc is %r" % (rc,))
        return Result(rc, base64.b64decode(reply["stdout_b64"], validate=True),
                      base64.b64decode(reply["stderr_b64"], validate=True))
    except (KeyError, TypeError, ValueError) as exc:
        raise GuestError("physcall vm: the guest agent's answer to %r is malformed (%s: %s); refused"
                         % (argv, type(exc).__name__, str(exc)[:200])) from None


def _tail(path, lines=15):
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + l for l in text.splitlines()[-lines:])


@atexit.register
def _kill_all():
    """Backstop: no QEMU outlives the Python process that started it, even without close()."""
    for guest in list(_LIVE):
        guest._kill()
