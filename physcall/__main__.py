"""``python3 -m physcall`` is the ``physcall`` command."""
import sys

from .cli import main

sys.exit(main())
