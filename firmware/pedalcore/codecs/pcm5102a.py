# TI PCM5102A stereo DAC: no control bus. SCK tied to GND makes its PLL run from BCK (3-wire
# I2S, no MCLK from the MCU needed); FMT=GND selects I2S; XSMT is the soft-mute input, which the
# firmware holds low (muted) until the TX buffers are primed so the start-up is pop-free.
from machine import Pin


class PCM5102A:
    name = "pcm5102a"

    def __init__(self, spec):
        pin = spec.get("mute_pin")
        self.xsmt = Pin(pin, Pin.OUT, value=0) if pin is not None else None

    def init(self):
        self.mute(True)

    def mute(self, on):
        if self.xsmt is not None:
            self.xsmt.value(0 if on else 1)

    def deinit(self):
        self.mute(True)
