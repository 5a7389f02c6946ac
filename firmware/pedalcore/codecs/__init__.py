# Codec drivers. Each converter sits on its own I2S bus (MicroPython's machine.I2S objects each
# drive their own BCK/WS, see boards/README.md), so a board names one ADC-side and one DAC-side
# chip. make(spec, i2c) returns an object with init(), mute(on) and deinit().


class NoCodec:
    """A converter without any control pins (e.g. a module strapped for I2S slave mode)."""

    name = "none"

    def __init__(self, spec=None, i2c=None):
        pass

    def init(self):
        pass

    def mute(self, on):
        pass

    def deinit(self):
        pass


def make(spec, i2c=None, role="adc"):
    chip = (spec or {}).get("chip", "none")
    if chip == "es8311":
        from pedalcore.codecs.es8311 import ES8311
        return ES8311(spec, i2c, role)
    if chip == "pcm5102a":
        from pedalcore.codecs.pcm5102a import PCM5102A
        return PCM5102A(spec)
    if chip == "none":
        return NoCodec()
    raise ValueError("board.json: unsupported codec " + str(chip))
