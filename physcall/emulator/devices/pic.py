"""The two 8259A interrupt controllers."""

from .base import Device


class Pic(Device):
    """The two 8259A PICs at 20h/21h and A0h/A1h: the initialisation words (ICW1-4), the mask
    (OCW1) read back, OCW3 selecting IRR or ISR for reads (both empty: no interrupt is ever pending
    in a dry run).  The masks start as the kernel leaves them around a jump (FBh/FFh, measured in the
    guest: DESIGN.md, "Interrupts")."""
    ports = (0x20, 0x21, 0xA0, 0xA1)

    def reset(self):
        self.imr = {0x20: 0xFB, 0xA0: 0xFF}
        self.icw = {0x20: 0, 0xA0: 0}              # ICW words still expected after ICW1

    def read(self, port, size):
        base = port & 0xFE
        return self.imr[base] if port & 1 else 0x00

    def write(self, port, size, value):
        base = port & 0xFE
        if not port & 1:
            if value & 0x10:                      # ICW1: ICW2, ICW3, and ICW4 when bit 0 says so
                self.icw[base] = 3 if value & 1 else 2
            return
        if self.icw[base]:
            self.icw[base] -= 1
        else:
            self.imr[base] = value & 0xFF
