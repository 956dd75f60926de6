"""System ports: 92h (A20, fast reset), APM B2h/B3h, POST code 80h and QEMU's debug port."""

from .base import Device


class Port92(Device):
    """System control port A (92h): bit 1 is A20 (on: Linux runs with it on), bit 0 the fast reset,
    which the refusal table catches before a write gets here."""
    ports = (0x92,)

    def reset(self):
        self.value = 0x02

    def read(self, port, size):
        return self.value

    def write(self, port, size, value):
        self.value = value & 0xFE


class Apm(Device):
    """APM control (B2h) and status (B3h): a write to B2h triggers an SMI on a real chipset (a hazard);
    here both just keep what was written."""
    ports = (0xB2, 0xB3)

    def reset(self):
        self.regs = {0xB2: 0, 0xB3: 0}

    def read(self, port, size):
        return self.regs[port]

    def write(self, port, size, value):
        self.regs[port] = value & 0xFF


class DebugLog(Device):
    """POST code port 80h and QEMU's debug console 402h (SeaBIOS's debug output): writes are kept."""
    ports = (0x80, 0x402)

    def reset(self):
        self.post, self.text = [], bytearray()

    def read(self, port, size):
        return 0xE9 if port == 0x402 else 0xFF    # QEMU's isa-debugcon answers its readback value

    def write(self, port, size, value):
        if port == 0x80:
            self.post.append(value)
        else:
            self.text.append(value & 0xFF)
