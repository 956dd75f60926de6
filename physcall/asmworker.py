"""Keystone in a child process, so that assembling has a timeout.

Keystone 0.9 loops forever on some input (a line that starts with ``%``) inside its C code, where no
signal or thread can stop it.  So Keystone runs in a forked child that serves requests over a pipe;
a request that outlives ``timeout`` kills the child (the next request forks a new one) and raises
AssemblyError.  A request costs ~0.1 ms of pipe traffic; the child is forked once per process.

>>> keystone_asm("real16", "mov ax, 1", 0)
(b'\\xb8\\x01\\x00', None)
"""

import os
import pickle
import select
import signal
import struct
import threading

from .errors import AssemblyError

TIMEOUT = 10.0          # seconds for one request; the stub BIOS (700 lines) takes ~50 ms


def _serve(rfd, wfd):
    import keystone
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # Ctrl-C is the parent's to handle
    modes = {"real16": keystone.KS_MODE_16, "flat32": keystone.KS_MODE_32}
    engines = {}
    while True:
        head = _read(rfd, 4)
        if head is None:
            os._exit(0)                                 # the parent is gone
        mode, text, origin = pickle.loads(_read(rfd, struct.unpack("<I", head)[0]))
        if mode not in engines:
            engines[mode] = keystone.Ks(keystone.KS_ARCH_X86, modes[mode])
        try:
            encoding, _ = engines[mode].asm(text, origin)
            reply = (bytes(encoding or b""), None)
        except keystone.KsError as exc:
            reply = (None, (exc.errno, str(exc)))
        data = pickle.dumps(reply)
        os.write(wfd, struct.pack("<I", len(data)) + data)


def _read(fd, size):
    out = b""
    while len(out) < size:
        chunk = os.read(fd, size - len(out))
        if not chunk:
            return None
        out += chunk
    return out


class _Worker:
    def __init__(self):
        self.pid = self.owner = None
        self.lock = threading.Lock()            # one request on the pipe at a time

    def start(self):
        req_r, req_w = os.pipe()                        # parent -> child
        rep_r, rep_w = os.pipe()                        # child -> parent
        pid = os.fork()
        if pid == 0:                                    # pragma: no cover (the child)
            try:
                os.close(req_w)
                os.close(rep_r)
                _serve(req_r, rep_w)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(rep_w)
        self.pid, self.wfd, self.rfd, self.owner = pid, req_w, rep_r, os.getpid()

    def stop(self):
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            os.close(self.wfd)
            os.close(self.rfd)
            self.pid = None

    def request(self, mode, text, origin, timeout):
        with self.lock:
            return self._request(mode, text, origin, timeout)

    def _request(self, mode, text, origin, timeout):
        if self.pid is None or self.owner != os.getpid():   # none yet, or we are a forked copy
            self.start()
        data = pickle.dumps((mode, text, origin))
        try:
            os.write(self.wfd, struct.pack("<I", len(data)) + data)
            ready, _, _ = select.select([self.rfd], [], [], timeout)
            head = _read(self.rfd, 4) if ready else None
            body = _read(self.rfd, struct.unpack("<I", head)[0]) if head else None
        except BaseException:
            self.stop()                                 # Ctrl-C mid-request: the reply is lost
            raise
        if body is None:
            self.stop()
            raise AssemblyError("Keystone did not finish within %.0f s (it loops on some syntax it "
                                "mishandles): simplify the source or split it" % timeout)
        return pickle.loads(body)


_WORKER = _Worker()


def keystone_asm(mode, text, origin, timeout=TIMEOUT):
    """(bytes, None) or (None, (errno, message)) from Keystone, within ``timeout`` seconds."""
    return _WORKER.request(mode, text, origin, timeout)
