# Everest ES8311 mono codec over I2C, in I2S slave mode with its internal MCLK taken from the
# BCLK pin (REG01 bit 7): MicroPython on esp32/rp2 cannot output an MCLK. With 32-bit slots
# BCLK = 64 fs, and the pre-multiplier x4 makes the 256 fs master clock the ADC/DAC need
# (the 3.072 MHz / 48 kHz row of Espressif's coefficient table: pre_div 1, pre_multi x4,
# adc_div = dac_div = 1, single speed, OSR 0x10).
#
# The chip has a single serial port, so it can serve one direction of the two machine.I2S
# objects: usually the ADC (RX bus); role="dac" sets it up as the output instead.
from micropython import const

ADDR = const(0x18)
_MULT = {32: 3, 64: 2, 128: 1, 256: 0}  # BCLK/fs -> pre_multi code (x8, x4, x2, x1)


class ES8311:
    name = "es8311"

    def __init__(self, spec, i2c, role="adc"):
        if i2c is None:
            raise ValueError("es8311 needs the board's i2c bus")
        self.i2c = i2c
        self.addr = int(spec.get("i2c_addr", ADDR))
        self.role = role
        self.bclk_fs = int(spec.get("bclk_per_frame", 64))
        self.pga_db = int(spec.get("pga_db", 0))
        self._b = bytearray(1)

    def w(self, reg, val):
        self._b[0] = val & 0xFF
        self.i2c.writeto_mem(self.addr, reg, self._b)

    def r(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b)
        return self._b[0]

    def init(self):
        if self.bclk_fs not in _MULT:
            raise ValueError("es8311: BCLK must be 32/64/128/256 x fs")
        chip = self.r(0xFD)
        if chip != 0x83:
            raise OSError("es8311: chip id 0x%02x, expected 0x83 (wiring? address?)" % chip)
        self.w(0x00, 0x1F)  # reset
        self.w(0x00, 0x00)
        self.w(0x00, 0x80)  # power on, slave serial port
        self.w(0x01, 0xBF)  # MCLK from BCLK pin, all clocks on
        self.w(0x02, _MULT[self.bclk_fs] << 3)  # pre_div 1, pre_multi -> 256 fs
        self.w(0x03, 0x10)  # ADC single speed, OSR
        self.w(0x04, 0x10)  # DAC OSR
        self.w(0x05, 0x00)  # ADC/DAC clock dividers 1
        self.w(0x06, 0x03)  # BCLK divider (master mode only), normal polarity
        self.w(0x07, 0x00)
        self.w(0x08, 0xFF)
        self.w(0x09, 0x00)  # SDP in: I2S, 24-bit (left-justified in the 32-bit slot)
        self.w(0x0A, 0x00)  # SDP out: I2S, 24-bit
        self.w(0x0B, 0x00)
        self.w(0x0C, 0x00)
        self.w(0x0D, 0x01)  # power up analog
        self.w(0x0E, 0x02)  # enable PGA and ADC modulator
        self.w(0x10, 0x1F)  # VMID fast charge
        self.w(0x11, 0x7F)
        gain = self.pga_db // 3
        if gain < 0:
            gain = 0
        if gain > 10:
            gain = 10
        self.w(0x14, 0x10 | gain)  # line input on MIC1P/N, PGA gain in 3 dB steps
        self.w(0x15, 0x00)  # ADC ramp
        self.w(0x16, 0x00)  # ADC digital scale 0 dB
        self.w(0x17, 0xBF)  # ADC volume 0 dB
        self.w(0x1B, 0x0A)  # ADC HPF
        self.w(0x1C, 0x6A)  # ADC EQ bypass, DC offset cancel
        self.w(0x12, 0x00 if self.role == "dac" else 0x02)  # DAC power (off when ADC-only)
        self.w(0x13, 0x10 if self.role == "dac" else 0x00)  # HP drive
        self.w(0x32, 0xBF)  # DAC volume 0 dB
        self.w(0x37, 0x08)  # DAC EQ bypass
        self.mute(True)

    def mute(self, on):
        reg = self.r(0x31)
        reg = (reg | 0x60) if on else (reg & ~0x60)
        self.w(0x31, reg)

    def deinit(self):
        try:
            self.mute(True)
        except OSError:
            pass
