"""PCI configuration mechanism #1, answering from a snapshot's recorded config spaces."""

from .base import Device, ones


class PciConfig(Device):
    """PCI configuration mechanism #1 at CF8h/CFCh-CFFh (PCI Local Bus 3.0, 3.2.2.3.2): bus 0's
    configuration spaces as the snapshot recorded them; every other bus, device or register beyond
    what was recorded reads all-ones (no device).  Writes change this run's copy only."""
    ports = (0xCF8, 0xCFC, 0xCFD, 0xCFE, 0xCFF)

    def __init__(self, spaces=None):
        self.recorded = {}
        for name, text in (spaces or {}).items():
            dev, fn = name.split(":")[1].split(".")
            self.recorded[(int(dev, 16), int(fn))] = bytes.fromhex(text)
        self.reset()

    def reset(self):
        self.address = 0
        self.spaces = {k: bytearray(v) for k, v in self.recorded.items()}

    def _space(self):
        if not self.address & 0x80000000 or (self.address >> 16) & 0xFF:
            return None
        return self.spaces.get(((self.address >> 11) & 0x1F, (self.address >> 8) & 7))

    def read(self, port, size):
        if port == 0xCF8:
            return self.address if size == 4 else ones(size)
        space, reg = self._space(), (self.address & 0xFC) + (port - 0xCFC)
        if space is None or reg + size > len(space):
            return ones(size)
        return int.from_bytes(space[reg:reg + size], "little")

    def write(self, port, size, value):
        if port == 0xCF8:
            if size == 4:
                self.address = value
            return
        space, reg = self._space(), (self.address & 0xFC) + (port - 0xCFC)
        if space is not None and reg + size <= len(space):
            space[reg:reg + size] = (value & ones(size)).to_bytes(size, "little")
