"""Fetch Debian trixie's ``linux-source-6.12`` and build the guest's KEXEC_JUMP kernel.

Why 6.12: 6.1 leaves GDTR = 0/0 when a preserve-context kexec returns and the kernel triple-faults;
trixie's 6.12 carries "x86/kexec: Restore GDT on return from ::preserve_context kexec". No patches are
applied: ``make tinyconfig`` + ``kernel.fragment``, every ``=y`` of the fragment verified afterwards.

The host's apt configuration is never touched: a private sources list, lists and cache directory under
``~/.cache/physcall/apt/`` are passed to ``apt-get`` with ``-o``.

Example::

    >>> from physcall.vm import kernel
    >>> kernel.build_kernel(progress=print)          # doctest: +SKIP
    PosixPath('/root/.cache/physcall/kernel/6.12.117-1-3f2a.../bzImage')
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from physcall.vm import host
from physcall.vm.errors import SetupError

log = logging.getLogger("physcall.vm")
PACKAGE = "linux-source-6.12"
SUITE = "trixie"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
FRAGMENT = pathlib.Path(__file__).with_name("kernel.fragment")
MAKE = ["make", "ARCH=x86_64"]


def fragment_hash(text=None):
    """First 12 hex digits of sha256 of the config fragment: part of the kernel's cache key."""
    data = FRAGMENT.read_bytes() if text is None else text.encode()
    return hashlib.sha256(data).hexdigest()[:12]


def cache_key(version, fragment_text=None):
    """``<source-deb-version>-<fragment hash>``: what built the kernel, so any change rebuilds it."""
    return "%s-%s" % (version, fragment_hash(fragment_text))


def _apt_options(apt):
    """``-o`` options that point apt-get at our private state only (the host's config stays as is)."""
    parts = apt / "sources.list.d"
    parts.mkdir(exist_ok=True)
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    return [
        "-o", "Dir::Etc::SourceList=%s" % (apt / "sources.list"),
        "-o", "Dir::Etc::SourceParts=%s" % parts,
        "-o", "Dir::State::Lists=%s" % (apt / "lists"),
        "-o", "Dir::Cache=%s" % (apt / "cache"),
        "-o", "APT::Sandbox::User=root",
    ]


def _run(argv, what, cwd=None, stdout=None):
    """Run a setup step; on failure raise SetupError with the step, the command and its stderr tail."""
    proc = subprocess.run(argv, cwd=cwd, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise SetupError("physcall vm setup: %s failed (exit %d): %s\n%s"
                         % (what, proc.returncode, " ".join(map(str, argv)), tail))
    return proc


def download_source(progress=log.info, refresh=False):
    """Path of the cached ``linux-source-6.12_*.deb``; downloads it (private apt state) if absent."""
    debs = host.cache_dir("apt", "debs")
    found = sorted(debs.glob(PACKAGE + "_*_all.deb"))
    if found and not refresh:
        return found[-1]
    apt = host.cache_dir("apt")
    (apt / "sources.list").write_text("deb [signed-by=%s] %s %s main\n"
                                      % (KEYRING, host.debian_archive_uri(), SUITE))
    opts = _apt_options(apt)
    progress("apt-get update (private lists for %s, %s)" % (SUITE, apt))
    _run(["apt-get", "-q", "update"] + opts, "apt-get update")
    progress("apt-get download %s" % PACKAGE)
    _run(["apt-get", "-q", "download"] + opts + [PACKAGE], "apt-get download", cwd=debs)
    found = sorted(debs.glob(PACKAGE + "_*_all.deb"))
    if not found:
        raise SetupError("physcall vm setup: apt-get download left no %s .deb in %s" % (PACKAGE, debs))
    return found[-1]


def deb_version(deb):
    """The Debian version of a downloaded .deb, e.g. ``6.12.117-1`` (from the file name apt gave it)."""
    return pathlib.Path(deb).name.split("_")[1].replace("%3a", ":")


def extract_source(deb, dest, progress=log.info):
    """Unpack ``/usr/src/linux-source-6.12.tar.xz`` out of the .deb into ``dest``; returns the tree."""
    progress("extracting %s" % pathlib.Path(deb).name)
    script = ('dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/src/%s.tar.xz | tar -xJ -C "$2"' % PACKAGE)
    _run(["bash", "-euo", "pipefail", "-c", script, "bash", str(deb), str(dest)],
         "extracting the kernel source")
    return pathlib.Path(dest, PACKAGE)


def configure(tree, fragment=FRAGMENT):
    """tinyconfig + fragment, then check that every ``CONFIG_X=y`` of the fragment survived."""
    _run(MAKE + ["tinyconfig"], "make tinyconfig", cwd=tree)
    _run(["scripts/kconfig/merge_config.sh", "-m", ".config", str(fragment)], "merge_config.sh", cwd=tree)
    _run(MAKE + ["olddefconfig"], "make olddefconfig", cwd=tree)
    dropped = check_config(pathlib.Path(tree, ".config").read_text(), pathlib.Path(fragment).read_text())
    if dropped:
        raise SetupError("physcall vm setup: Kconfig dropped %s (a dependency is missing); "
                         "fix: add the dependency to %s" % (", ".join(dropped), fragment))


def check_config(config, fragment):
    """Fragment lines the final .config does not honour: a missing ``=y`` or an unwanted ``=y``."""
    have = set(config.splitlines())
    bad = [l for l in fragment.splitlines() if l.startswith("CONFIG_") and l not in have]
    for line in fragment.splitlines():
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            name = line.split()[1]
            bad += [line] if (name + "=y") in have or (name + "=m") in have else []
    return bad


def compile_kernel(tree, progress=log.info, jobs=None):
    """``make -jN bzImage``, reporting progress every ~20 s; returns the bzImage path."""
    jobs = jobs or os.cpu_count() or 1
    argv = MAKE + ["-j%d" % jobs, "bzImage"]
    progress("building bzImage (%s)" % " ".join(argv))
    proc = subprocess.Popen(argv, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail, last, start = [], time.monotonic(), time.monotonic()
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-40:]
        if time.monotonic() - last > 20:
            last = time.monotonic()
            progress("  %3.0f s: %s" % (last - start, line.strip()))
    if proc.wait() != 0:
        raise SetupError("physcall vm setup: kernel build failed in %s:\n%s" % (tree, "\n".join(tail)))
    return pathlib.Path(tree, "arch/x86/boot/bzImage")


def kernel_release(tree):
    """``make kernelrelease`` of a configured tree, e.g. ``6.12.117``."""
    return _run(MAKE + ["-s", "kernelrelease"], "make kernelrelease", cwd=tree).stdout.decode().strip()


def build_kernel(progress=log.info, refresh=False):
    """Cached guest kernel directory (``bzImage``, ``config``, ``release``), built if absent.

    Built in a temporary directory next to the cache entry and renamed into place at the end, so an
    interrupted build leaves nothing that looks finished.
    """
    host.require_packages(build=True)
    with _build_lock(progress):
        deb = download_source(progress, refresh)
        final = host.cache_dir("kernel") / cache_key(deb_version(deb))
        if not (final / "bzImage").is_file():
            _remove_stale_builds(final.parent)
            _build_into(final, deb, progress)
            progress("kernel ready: %s" % final)
    return final


def _build_into(final, deb, progress):
    with tempfile.TemporaryDirectory(prefix=".build-%d-" % os.getpid(), dir=final.parent) as tmp:
        tree = extract_source(deb, tmp, progress)
        configure(tree)
        image = compile_kernel(tree, progress)
        out = pathlib.Path(tmp, "out")
        out.mkdir()
        shutil.copy2(image, out / "bzImage")
        shutil.copy2(tree / ".config", out / "config")
        (out / "release").write_text(kernel_release(tree) + "\n")
        (out / "source").write_text("%s %s\n" % (PACKAGE, deb_version(deb)))
        try:
            os.rename(out, final)
        except OSError:  # a setup without the lock (older physcall) finished the same key first
            if not (final / "bzImage").is_file():
                raise


@contextlib.contextmanager
def _build_lock(progress):
    """One setup at a time per cache (flock: released by the kernel even if the holder is killed)."""
    with open(host.cache_dir() / "setup.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("waiting for another `physcall vm setup` to finish (lock %s)" % lock.name)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _remove_stale_builds(kernels):
    """Delete ``.build-<pid>-*`` trees (~1.4 GB each) left by setups that were killed mid-build."""
    for path in kernels.glob(".build-*-*"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            log.info("removing stale kernel build %s", path)
            shutil.rmtree(path, ignore_errors=True)
