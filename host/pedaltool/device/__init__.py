"""device room: the link between the host and a MicroPython pedal (a board or the virtual one).

- ``transport``: :class:`Link` over mpremote's ``SerialTransport`` (raw REPL, raw-paste, bounded
  waits, retries), board identification, one-line errors with the fix;
- ``discovery``: USB serial ports by known USB IDs, board-profile recognition;
- ``flash``: A/B-slot update with on-board SHA-256 checks and a manifest (``pedaltool flash``);
- ``console``: the ``@tag payload`` console client and ``pedaltool console``;
- ``install``: MicroPython install (esptool API for ESP32, UF2 copy for RP2040/RP2350);
- ``virtual``: the virtual pedal (the real firmware in the MicroPython unix port on a pty);
- ``demo``: ``pedaltool demo``.
"""
