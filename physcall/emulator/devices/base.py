"""The device protocol: ``read(port, size)``, ``write(port, size, value)``, ``reset()``."""


def ones(size):
    """All bits set in a ``size``-byte port read: ``ones(2) == 0xffff``."""
    return (1 << (8 * size)) - 1


class Device:
    """Base: all-ones reads (an ISA bus with nothing on it), ignored writes; a device starts reset."""
    ports = ()

    def __init__(self):
        self.reset()

    def read(self, port, size):
        return ones(size)

    def write(self, port, size, value):
        pass

    def reset(self):
        pass
