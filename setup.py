"""Only what pyproject.toml cannot say: the wheel carries csrc/ and stubs/ inside the package.

They stay at the top of the repository (the project's layout); a wheel gets copies under
physcall/_data/ (physcall.resources finds either), so that no top-level ``csrc`` lands in site-packages.
"""

import glob
import os

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = {"csrc": ("*.h", "*.c", "*.S"), "stubs": ("*.asm",)}


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        for name, patterns in DATA_DIRS.items():
            target = os.path.join(self.build_lib, "physcall", "_data", name)
            self.mkpath(target)
            for pattern in patterns:
                for path in sorted(glob.glob(os.path.join(name, pattern))):
                    self.copy_file(path, os.path.join(target, os.path.basename(path)))


setup(cmdclass={"build_py": BuildPyWithData})
