"""Where physcall's sources that are not Python live: ``csrc/`` (the ABI header and the trampoline,
built on first use) and ``stubs/`` (the stub BIOS, assembled at load time).

In a checkout they sit at the top of the repository beside ``physcall/`` (the project's layout).  A
wheel carries them inside the package's own namespace, as ``physcall/_data/csrc`` and
``physcall/_data/stubs`` (setup.py copies them there), never as a top-level ``csrc`` in site-packages.

>>> (CSRC / "physcall.h").is_file(), (STUBS / "int12.asm").is_file()
(True, True)
"""

import pathlib

from .errors import PhyscallError

PACKAGE = pathlib.Path(__file__).resolve().parent
DATA = "_data"                      # setup.py writes the wheel's copies here


def data_dir(name):
    """The directory ``name`` (``csrc`` or ``stubs``) of this installation: the wheel's, or the checkout's."""
    for candidate in (PACKAGE / DATA / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise PhyscallError("physcall: its %s/ directory is missing (looked in %s and %s); the installation is "
                        "incomplete\n  fix: reinstall physcall (pip install --force-reinstall physcall)"
                        % (name, PACKAGE / DATA / name, PACKAGE.parent / name))


# The directory that holds physcall/: a checkout, or site-packages.  The guest runs commands there.
ROOT = PACKAGE.parent
# The repository this physcall runs from, or None for an installed wheel (site-packages is no checkout).
CHECKOUT = ROOT if (ROOT / "pyproject.toml").is_file() else None
CSRC = data_dir("csrc")
STUBS = data_dir("stubs")
