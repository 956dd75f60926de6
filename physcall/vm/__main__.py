"""``python3 -m physcall.vm setup|run|shell`` (the same as ``physcall vm ...``)."""
import sys

from physcall.vm.cli import main

sys.exit(main())
