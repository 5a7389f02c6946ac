"""The console scenario both flash tests play: set a knob, change preset, save, restart."""

from pedaltool.device.console import Console
from pedaltool.device.transport import Link


def set_next_save_restart(port: str):
    """`set drive 0.8`, `preset next`, `save`, restart; returns (boot reply, status after)."""
    with Link(port) as link:
        con = Console(link)
        assert con.command("set drive 0.8").tag == "ok"
        assert con.command("preset next").tag == "ok"
        assert con.command("save").tag == "ok"
        boot = con.restart()
        return boot, con.status()
