"""The VGA registers and the Bochs/QEMU VBE "dispi" interface."""

from .base import Device, ones


class Vga(Device):
    """The VGA registers (3C0h-3CFh, 3B4h/3B5h/3D4h/3D5h, 3BAh/3DAh), as IBM's VGA Technical
    Reference defines them: indexed register files that keep what is written (attribute controller
    with its index/data flip-flop reset by reading input status 1, sequencer, graphics controller,
    CRTC), the DAC with its read/write indices and three-byte entries, and input status 1 whose
    retrace bits (0 and 3) toggle on every read so that wait-for-retrace loops end."""
    ports = tuple(range(0x3C0, 0x3D0)) + (0x3B4, 0x3B5, 0x3BA, 0x3D4, 0x3D5, 0x3DA)

    def reset(self):
        self.files = {"attr": bytearray(0x20), "seq": bytearray(8), "gfx": bytearray(9),
                      "crtc": bytearray(0x19)}
        self.index = {"attr": 0, "seq": 0, "gfx": 0, "crtc": 0}
        self.flip, self.misc, self.status, self.pel_mask = 0, 0x67, 0x00, 0xFF
        self.dac, self.dac_read, self.dac_write, self.dac_part = bytearray(768), 0, 0, 0

    def _indexed(self, port):
        return {0x3C4: "seq", 0x3C5: "seq", 0x3CE: "gfx", 0x3CF: "gfx", 0x3B4: "crtc", 0x3B5: "crtc",
                0x3D4: "crtc", 0x3D5: "crtc"}.get(port)

    def read(self, port, size):
        if size > 1:                               # a word access is two byte accesses
            return self.read(port, 1) | self.read(port + 1, size - 1) << 8
        name = self._indexed(port)
        if name:
            if port in (0x3C4, 0x3CE, 0x3B4, 0x3D4):
                return self.index[name]
            table = self.files[name]
            return table[self.index[name] % len(table)]
        if port in (0x3BA, 0x3DA):
            self.flip, self.status = 0, self.status ^ 0x09
            return self.status
        if port == 0x3C0:
            return self.index["attr"]
        if port == 0x3C1:
            return self.files["attr"][self.index["attr"] & 0x1F]
        if port == 0x3CC:
            return self.misc
        if port == 0x3C6:
            return self.pel_mask
        if port == 0x3C9:
            value = self.dac[(self.dac_read * 3 + self.dac_part) % 768]
            self.dac_part = (self.dac_part + 1) % 3
            self.dac_read += self.dac_part == 0
            return value
        return 0x00

    def write(self, port, size, value):
        if size > 1:
            self.write(port, 1, value & 0xFF)
            return self.write(port + 1, size - 1, value >> 8)
        value &= 0xFF
        name = self._indexed(port)
        if name:
            if port in (0x3C4, 0x3CE, 0x3B4, 0x3D4):
                self.index[name] = value
            else:
                table = self.files[name]
                table[self.index[name] % len(table)] = value
        elif port == 0x3C0:
            if self.flip == 0:
                self.index["attr"] = value
            else:
                self.files["attr"][self.index["attr"] & 0x1F] = value
            self.flip ^= 1
        elif port == 0x3C2:
            self.misc = value
        elif port == 0x3C6:
            self.pel_mask = value
        elif port in (0x3C7, 0x3C8):
            self.dac_part = 0
            if port == 0x3C7:
                self.dac_read = value
            else:
                self.dac_write = value
        elif port == 0x3C9:
            self.dac[(self.dac_write * 3 + self.dac_part) % 768] = value & 0x3F
            self.dac_part = (self.dac_part + 1) % 3
            self.dac_write += self.dac_part == 0


class BochsVbe(Device):
    """The Bochs/QEMU "dispi" interface (index 1CEh, data 1CFh) that SeaVGABIOS's bochsvga driver
    uses for VBE on QEMU's std VGA (QEMU hw/display/vga.c, VBE_DISPI_*): the ID register answers
    B0C5h, video memory 16 MiB (QEMU's default vgamem_mb) in 64 KiB units; other registers keep
    what is written."""
    ports = (0x1CE, 0x1CF, 0x1D0)
    ID, MEMORY_64K = 0xB0C5, 256

    def reset(self):
        self.index, self.regs = 0, [0] * 16
        self.regs[0], self.regs[10] = self.ID, self.MEMORY_64K
        self.regs[1:4] = [1024, 768, 8]            # VBE_DISPI_GETCAPS maxima are answered the same way

    def read(self, port, size):
        if port == 0x1CE:
            return self.index
        return self.regs[self.index] if self.index < 16 else ones(size)

    def write(self, port, size, value):
        if port == 0x1CE:
            self.index = value & 0xFFFF
        elif self.index < 16 and self.index not in (0, 10):
            self.regs[self.index] = value & 0xFFFF
