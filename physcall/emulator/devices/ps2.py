"""The 8042 PS/2 controller and the keyboard behind it."""

from .base import Device


class Ps2(Device):
    """The 8042 PS/2 controller at 60h/64h: status (system flag set), the command byte, controller
    commands that answer (20h read command byte, AAh self test -> 55h, ABh/A9h port tests -> 00h,
    D0h output port) and the keyboard's ACK (FAh) to the device commands BIOSes send (IBM PS/2
    Technical Reference, "Keyboard/Auxiliary Device Controller")."""
    ports = (0x60, 0x64)
    ANSWERS = {0xAA: [0x55], 0xAB: [0x00], 0xA9: [0x00], 0xD0: [0x03]}
    KEYBOARD = {0xF2: [0xFA, 0xAB, 0x83], 0xFF: [0xFA, 0xAA], 0xEE: [0xEE]}

    def reset(self):
        self.out, self.command_byte, self.pending = [], 0x47, None

    def read(self, port, size):
        if port == 0x64:
            return 0x14 | (1 if self.out else 0)
        return self.out.pop(0) if self.out else 0x00

    def write(self, port, size, value):
        value &= 0xFF
        if port == 0x64:
            self.pending = value if value in (0x60, 0xD1, 0xD2, 0xD3, 0xD4) else None
            if value == 0x20:
                self.out.append(self.command_byte)
            self.out += self.ANSWERS.get(value, [])
        elif self.pending == 0x60:
            self.command_byte, self.pending = value, None
        elif self.pending is not None:
            self.pending = None
        else:
            self.out += self.KEYBOARD.get(value, [0xFA])
