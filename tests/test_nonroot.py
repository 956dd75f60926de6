"""Dry runs and the vm backend as a user who is not root, for real: uid 65534 runs physcall's CLI
(issue 8, "Not only root").

The venv's interpreter may live where another user cannot even start it (on the lead's machine it is
under /root/.pyenv, and /root is mode 0700).  So Debian's /usr/bin/python3 (bootstrap.sh installs it),
of the same minor version as this one, runs a copy of physcall and of its dependencies from this
environment (cp311 wheels load in any 3.11.x) out of a world-readable temporary directory.  The user's
HOME and XDG_CACHE_HOME are a directory of its own there.  Nothing outside that directory changes
owner or mode, and the directory is removed afterwards.

The vm backend as that user needs a guest kernel in its own cache: the guest's payload (its interpreter,
the dependencies, the checkout, the trampoline it built), the initramfs, the disk image and the logs are
all written into the cache at run time, so a cache the user cannot write (root's, trusted as it is) would
not do, and /root is closed to it anyway.  The test gives it root's kernel, copied in as `physcall vm
setup` would have left it, instead of a 30-minute build.
"""

import importlib.metadata
import importlib.util
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from physcall import cache, resources
from physcall.emulator.profile import Profile
from physcall.vm import kernel, payload

NOBODY = 65534
PYTHON = "/usr/bin/python3"
# What `import physcall` pulls in from site-packages (pyproject.toml's dependencies, as modules).
DEPS = ("cffi", "_cffi_backend", "pycparser", "unicorn", "keystone", "capstone", "elftools")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching to uid 65534 needs root")


def as_nobody(argv, home, cwd=None):
    """``argv`` run with uid and gid 65534 and no supplementary groups, in a minimal environment."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(home.parent / "lib")}
    return subprocess.run([str(a) for a in argv], user=NOBODY, group=NOBODY, extra_groups=[], env=env,
                          cwd=cwd or home, capture_output=True, text=True, timeout=180)


def _copy_module(name, lib):
    spec = importlib.util.find_spec(name)
    if spec.submodule_search_locations:
        src = pathlib.Path(spec.origin).parent
        shutil.copytree(src, lib / src.name, ignore=SKIP)
    else:
        shutil.copy(spec.origin, lib)


def _owned_by_nobody(root):
    return [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files
            if os.lstat(os.path.join(d, n)).st_uid == NOBODY]


@pytest.fixture(scope="module")
def world():
    """``/tmp/physcall-nonroot-*/``: ``lib/`` (root's, 0755: physcall with csrc/ and stubs/ where a wheel
    has them, and the dependencies with their metadata) and ``home/`` (uid 65534's, 0700).  Not under
    pytest's tmp_path: that is 0700 root."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="physcall-nonroot-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        home = top / "home"
        home.mkdir(mode=0o700)
        os.chown(home, NOBODY, NOBODY)
        probe = as_nobody([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], home) \
            if os.path.exists(PYTHON) else None
        want = "%d.%d" % sys.version_info[:2]
        if probe is None or probe.returncode != 0 or probe.stdout.strip() != want:
            pytest.skip("needs %s %s runnable by uid %d (got: %s)" % (
                PYTHON, want, NOBODY, "missing" if probe is None else (probe.stdout + probe.stderr).strip()))
        lib = top / "lib"
        lib.mkdir(mode=0o755)
        shutil.copytree(resources.PACKAGE, lib / "physcall", ignore=SKIP)
        for name in ("csrc", "stubs"):                  # where a wheel has them (the guest's payload packs them)
            shutil.copytree(resources.data_dir(name), lib / "physcall" / resources.DATA / name, ignore=SKIP,
                            dirs_exist_ok=True)
        for name in DEPS:
            _copy_module(name, lib)
        for name in payload.DISTRIBUTIONS + ["pycparser"]:   # their metadata: the payload finds their files by it
            dist = importlib.metadata.distribution(name)
            meta = next(f for f in dist.files if f.name == "METADATA" and f.parent.name.endswith(".dist-info"))
            shutil.copytree(pathlib.Path(dist.locate_file(meta)).parent, lib / meta.parent.name)
        for d, dirs, files in os.walk(lib):             # readable by all whatever the umask or the source's mode
            for n in dirs + files:
                p = os.path.join(d, n)
                os.chmod(p, os.stat(p).st_mode | stat.S_IROTH | (stat.S_IXOTH if n in dirs else 0))
        yield home
    finally:
        shutil.rmtree(top)
        assert not top.exists()


@pytest.fixture(scope="module")
def untouched_root_cache(world):
    """Root's own cache (this process's ``cache.base()``): uid 65534 must write nothing there."""
    yield
    assert _owned_by_nobody(cache.base()) == []


def physcall(world, *args):
    proc = as_nobody([PYTHON, "-m", "physcall", *args], world)
    assert proc.returncode == 0, "physcall %s as uid %d failed:\n%s" % (args, NOBODY, proc.stderr[-3000:])
    return json.loads(proc.stdout)


def test_the_subprocess_really_is_uid_65534(world):
    code = "import os, physcall; print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), physcall.__file__)"
    proc = as_nobody([PYTHON, "-c", code], world)
    assert proc.returncode == 0, proc.stderr
    uid, euid, gid, groups, where = proc.stdout.split(maxsplit=4)
    assert (uid, euid, gid, groups) == ("65534", "65534", "65534", "[]")
    assert where.strip() == str(world.parent / "lib" / "physcall" / "__init__.py")


def test_int_12h_as_nobody(world, untouched_root_cache):
    doc = physcall(world, "int", "0x12", "--json")
    assert doc["backend"] == "emulator" and doc["results"][0]["report"]["verdict"] == "ok"
    assert doc["results"][0]["regs"]["eax"] & 0xFFFF == Profile.default().base_memory_kib


def test_e820_as_nobody(world, untouched_root_cache):
    doc = physcall(world, "int", "0x15", "eax=0xe820", "ebx=0", "ecx=24", "edx=0x534d4150",
                   "--buffer", "es_di=24", "--json")
    result = doc["results"][0]
    entry = bytes.fromhex(result["buffers"]["es_di"])
    base, length, kind, *_ = Profile.default().memory_map[0]
    assert result["regs"]["eax"] == 0x534D4150 and not result["regs"]["eflags"] & 1
    assert (int.from_bytes(entry[:8], "little"), int.from_bytes(entry[8:16], "little"),
            int.from_bytes(entry[16:20], "little")) == (base, length, kind)


def test_run_a_routine_as_nobody(world, untouched_root_cache):
    src = world / "r.s"
    src.write_text("mov ax, [val]\nadd ax, 0x0101\nret\nval: .word 0x1234\n")
    os.chown(src, NOBODY, NOBODY)
    doc = physcall(world, "run", str(src), "--json")
    assert doc["results"][0]["regs"]["eax"] & 0xFFFF == 0x1335


def test_nobody_builds_its_helpers_into_its_own_private_cache(world, untouched_root_cache):
    """The dry run's compiled block counter (libphyscall.so) is built under the user's own cache, which
    physcall.cache trusts because that user owns it; root's cache is never looked at."""
    physcall(world, "int", "0x11", "--json")
    own = world / ".cache" / "physcall"
    built = list(own.glob("trampoline/*/libphyscall.so"))
    assert len(built) == 1 and all(os.stat(p).st_uid == NOBODY for p in (own, built[0]))
    assert stat.S_IMODE(os.stat(own).st_mode) == 0o700


def test_kexec_without_yes_as_nobody_is_one_line(world, untouched_root_cache):
    """Without --yes the kexec backend refuses before anything else, root or not: one line, no traceback.
    (The root check after --yes is shown in the guest: tests/guest/inguest.py, NOT_ROOT.)"""
    proc = as_nobody([PYTHON, "-m", "physcall", "int", "0x12", "--backend", "kexec"], world)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "--yes" in proc.stderr and "confirm=True" in proc.stderr


@pytest.mark.guest
def test_vm_backend_as_nobody(world, untouched_root_cache):
    """uid 65534 boots the guest (TCG: no /dev/kvm needed) with a kernel in its own cache, and the real
    int 12h in it answers what the guest's SeaBIOS says: 639 KiB."""
    kdir = kernel.build_kernel()                     # root's, as `physcall vm setup` left it (cached)
    deb = kernel.download_source()                   # its name identifies the kernel build (cache key)
    own = world / ".cache" / "physcall"
    for src, dst in ((deb, own / "apt" / "debs" / deb.name),
                     (kdir / "bzImage", own / "kernel" / kdir.name / "bzImage")):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)                    # a new file (never a hard link: chown below would follow)
    for d, dirs, files in os.walk(world):
        for n in dirs + files:
            p = os.path.join(d, n)
            assert os.lstat(p).st_nlink == 1 or n in dirs
            os.lchown(p, NOBODY, NOBODY)
            if n in dirs:
                os.chmod(p, 0o700)
    doc = physcall(world, "int", "0x12", "--backend", "vm", "--json")
    result = doc["results"][0]
    assert doc["backend"] == "vm" and result["status"] == "returned"
    assert result["regs"]["eax"] & 0xFFFF == 639
    assert result["report"]["firmware"].startswith("snapshot of the vm guest")
    assert list(own.glob("payload/*/payload.cpio")) and all(
        os.lstat(p).st_uid == NOBODY for p in own.rglob("*"))
