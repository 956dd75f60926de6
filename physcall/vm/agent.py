"""physcall guest agent: runs commands for the host over a raw serial port (the guest's ttyS1).

Runs inside the guest with the host's own Python, which the initramfs payload carries at its host
path (physcall/vm/payload.py); stdlib only, so it needs nothing else of the payload to start.
Protocol, one JSON object per line each way; byte payloads are base64 in ``*_b64`` fields:

    host -> {"id": 1, "op": "run", "argv": ["sh", "-c", "exit 7"], "stdin_b64": "", "cwd": null,
             "env": {"K": "V"}, "timeout": 30}
    agent-> {"id": 1, "rc": 7, "stdout_b64": "", "stderr_b64": "", "timed_out": false, "seconds": 0.01}

Other ops: ``ping`` (answers ``{"id", "pong": true}``) and ``reboot`` (answers, syncs, resets the
machine; QEMU runs with -no-reboot so it exits). At start it sends ``{"ready": true, ...}``.
Example (in the guest)::

    python3 -u agent.py /dev/ttyS1
"""

import base64
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import tty

RB_AUTOBOOT = 0x01234567  # linux/reboot.h LINUX_REBOOT_CMD_RESTART


def base_env():
    """What a guest command sees unless the request overrides it: the host's Python first on PATH."""
    pybin = os.path.dirname(sys.executable)
    return {
        "PATH": pybin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb",
    }


def send(fd, obj):
    data = json.dumps(obj).encode() + b"\n"
    while data:
        data = data[os.write(fd, data):]


def frames(fd):
    """Yield each non-empty line read from the port (a line is one request)."""
    buf = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            time.sleep(0.05)  # hang-up on a serial port: the host reconnects, keep listening
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line


def run(req):
    """Run one command in its own session; on timeout kill the whole process group."""
    env = base_env()
    env.update(req.get("env") or {})
    started = time.monotonic()
    try:
        proc = subprocess.Popen(req["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=req.get("cwd"), env=env, start_new_session=True)
    except OSError as exc:
        return {"rc": 127, "stdout_b64": "", "timed_out": False, "seconds": 0.0,
                "stderr_b64": b64(("physcall-agent: cannot run %r: %s\n" % (req["argv"], exc)).encode())}
    timed_out = False
    try:
        out, err = proc.communicate(base64.b64decode(req.get("stdin_b64") or ""), timeout=req.get("timeout"))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return {"rc": proc.returncode, "stdout_b64": b64(out), "stderr_b64": b64(err),
            "timed_out": timed_out, "seconds": round(time.monotonic() - started, 6)}


def b64(data):
    return base64.b64encode(data).decode()


def handle(fd, line):
    try:
        req = json.loads(line)
        op = req.get("op")
        if op == "run":
            reply = run(req)
        elif op == "ping":
            reply = {"pong": True}
        elif op == "reboot":
            send(fd, {"id": req.get("id"), "rebooting": True})
            os.sync()
            ctypes.CDLL(None, use_errno=True).reboot(RB_AUTOBOOT)
            reply = {"error": "reboot(2) returned errno %d" % ctypes.get_errno()}
        else:
            reply = {"error": "unknown op %r (known: run, ping, reboot)" % op}
    except Exception as exc:  # a bad request must not kill the agent: answer with the reason
        req, reply = {}, {"error": "%s: %s" % (type(exc).__name__, exc)}
    reply["id"] = req.get("id") if isinstance(req, dict) else None
    send(fd, reply)


def main(port):
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)  # 8-bit clean, no echo, no line editing: JSON lines only
    send(fd, {"ready": True, "pid": os.getpid(), "python": sys.executable,
              "uptime": float(open("/proc/uptime").read().split()[0])})
    for line in frames(fd):
        handle(fd, line)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/dev/ttyS1")
