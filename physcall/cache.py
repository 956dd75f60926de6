"""physcall's cache directory, the one owner of where it is and of whether it may be trusted.

What physcall builds and caches (the trampoline, the guest's kernel, initramfs and payload) is later
loaded into a kexec image that root jumps into, or into a guest.  The cache key (source hash and tool
versions) is predictable, so a cache another local user can write is a way to plant code for root.
The rule, as OpenSSH's ``safe_path`` has it for ``authorized_keys``: trust a directory or file only if
it is owned by the user who runs physcall or by root and writable by no one else, and the same for every
directory above it (a world-writable directory above counts only if it is sticky, like ``/tmp``).  A
cache that fails is never used, and the error says which path failed and why.

>>> cache_dir("trampoline").name
'trampoline'
"""

import os
import pathlib
import stat
import tempfile

from .errors import CacheError


def base():
    """``$XDG_CACHE_HOME/physcall``, by default ``~/.cache/physcall`` (not created here)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(os.path.abspath(root), "physcall")


def cache_dir(*parts):
    """``base()/<parts>``, created (mode 0700) on demand, every directory on the way checked.

    Nothing is created under a directory that fails the check: the check comes first.
    """
    path = base().joinpath(*parts)
    check_tree(path)
    try:
        for missing in reversed([p for p in (path, *path.parents) if not os.path.lexists(p)]):
            os.mkdir(missing, 0o700)
    except FileExistsError:
        pass                                   # created meanwhile by another physcall: checked below
    except OSError as exc:
        raise CacheError("physcall: cannot create the cache directory %s (%s)\n  fix: set XDG_CACHE_HOME "
                         "to a directory of your own" % (path, exc.strerror)) from None
    check_tree(path)
    return path


def trusted_file(path, what="cached file"):
    """``path`` if it and every directory above it pass the rule, else CacheError naming the cause."""
    path = pathlib.Path(os.path.abspath(path))
    check_tree(path.parent, "directory of the " + what)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        _refuse(path, what, "it is not a regular file (symlinks are not followed)")
    _check(path, st, what, sticky_ok=False)
    return path


def check_tree(path, what="cache directory"):
    """CacheError unless every existing directory from ``/`` down to ``path`` passes the rule.

    A symlink on the way must itself belong to the user or root; what it points to is checked too.
    """
    path = pathlib.Path(os.path.abspath(path))
    cur = pathlib.Path("/")
    for part in path.parts[1:]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        except OSError as exc:
            _refuse(cur, what, "it cannot be examined (%s)" % exc.strerror)
        if stat.S_ISLNK(st.st_mode):
            _check(cur, st, what, sticky_ok=True, link=True)
            cur = pathlib.Path(os.path.realpath(cur))
            check_tree(cur, what)
            st = os.lstat(cur)
        if not stat.S_ISDIR(st.st_mode):
            _refuse(cur, what, "it is not a directory")
        # Directories physcall owns must be closed; those above (/tmp, a shared home) may be sticky.
        _check(cur, st, what, sticky_ok=not _is_ours(cur))


def _is_ours(path):
    base_dir = pathlib.Path(os.path.realpath(base()))
    return path == base_dir or base_dir in path.parents


def _check(path, st, what, sticky_ok, link=False):
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        _refuse(path, what, "it is owned by uid %d, neither you (uid %d) nor root" % (st.st_uid, me))
    if link:
        return
    open_to_others = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if open_to_others and not (sticky_ok and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        _refuse(path, what, "it is writable by group or others (mode %04o)" % stat.S_IMODE(st.st_mode))


def _refuse(path, what, why):
    raise CacheError("physcall: refusing the %s %s: %s, so another user could plant code that physcall "
                     "would load into a kexec image or its guest\n  fix: set XDG_CACHE_HOME to a directory "
                     "of your own (mode 0700), or fix the owner/mode of %s" % (what, path, why, path))


def copy_in(src, dst):
    """Copy ``src`` to ``dst`` in a checked cache directory without following a symlink at ``dst``.

    Written to a private temporary file beside it and renamed over ``dst``: rename replaces a link
    instead of writing through it.
    """
    dst = pathlib.Path(dst)
    check_tree(dst.parent)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        os.replace(tmp, dst)
    except BaseException:
        os.unlink(tmp)
        raise
    return dst
