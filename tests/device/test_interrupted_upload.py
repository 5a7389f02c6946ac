"""A flash cut at many byte offsets (a pulled cable) never leaves a pedal that boots garbage.

Each trial flashes a new firmware version + bank while a write hook cuts the link after N
bytes, then pulls the virtual pedal's power (SIGKILL of the unix port) and checks what boots:
the previous set if the cut came before the ``pt/current`` rename was sent, the new set if it
came after; both only ever complete, verified sets. Then the next trial starts from there.
"""

import pytest
from minimal_firmware import make_bank, make_firmware
from pedaltool.device.console import Console
from pedaltool.device.flash import flash
from pedaltool.device.transport import Link
from pedaltool.errors import DeviceError

SWITCH = b"_mv('pt/current.tmp', 'pt/current')"


class Cutter:
    """write_hook: let ``limit`` bytes through, then cut; remembers what was sent.

    With ``after_switch=k`` the limit is instead k bytes after the start of the slot switch
    command (negative: before it), wherever that falls in this particular update.
    """

    def __init__(self, limit=None, after_switch=None):
        self.limit = limit
        self.after_switch = after_switch
        self.sent = bytearray()

    def __call__(self, data):
        limit = self.limit
        if self.after_switch is not None:
            pos = bytes(self.sent + data).find(SWITCH)
            limit = 10**9 if pos < 0 else pos + self.after_switch
        n = max(0, min(limit - len(self.sent), len(data)))
        self.sent += data[:n]
        return n


def _booted(pedal):
    pedal.power_cycle()
    with Link(pedal.port) as link:
        return Console(link).restart().data


def _flash(pedal, fw, bank, hook=None):
    def factory(port):
        link = Link(port)
        link.write_hook = hook
        return link

    return flash(pedal.port, board="rpi_pico", bank_dir=bank, fw_dir=fw, link_factory=factory)


@pytest.mark.slow
def test_cut_at_many_offsets_still_boots_a_complete_set(pedal, tmp_path):
    def version(v):  # every trial flashes a new set, so every file must really be uploaded
        return (make_firmware(tmp_path / f"fw{v}", version=f"v{v}"),
                make_bank(tmp_path / f"bank{v}", names=("alpha", f"b{v}"), salt=v))

    _flash(pedal, *version(1))
    # measure a full update's byte count once, to spread the cut points over all of it
    probe = Cutter(limit=10**9)
    _flash(pedal, *version(2), hook=probe)
    total = len(probe.sent)
    assert 0 < bytes(probe.sent).find(SWITCH) < total
    running = 2
    fractions = [0.0005, 0.01, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9]
    cutters = [Cutter(limit=int(f * total)) for f in fractions]
    cutters += [Cutter(after_switch=k) for k in (-1, 5, len(SWITCH) + 8)]
    for i, cut in enumerate(cutters):
        new = 3 + i
        with pytest.raises(DeviceError):
            _flash(pedal, *version(new), hook=cut)
        booted = _booted(pedal)
        sent = bytes(cut.sent)
        pos = sent.find(SWITCH)
        if pos < 0:
            expect = {f"v{running}"}  # never asked to switch: the old set
        elif len(sent) > pos + len(SWITCH) + 4:
            expect = {f"v{new}"}  # the switch command went out whole
        else:
            expect = {f"v{running}", f"v{new}"}
        assert booted["version"] in expect, (i, cut.limit, cut.after_switch, total, booted)
        assert booted["name"] in ("alpha", f"b{running}", f"b{new}")
        running = int(booted["version"][1:])
    # and after all that, a normal flash works and boots the new set
    new = 3 + len(cutters)
    res = _flash(pedal, *version(new))
    assert res.boot["version"] == f"v{new}"


@pytest.mark.slow
def test_pedal_power_loss_during_flash(pedal, tmp_path):
    """The pedal loses power (SIGKILL of the unix port) at the start of file k of an update.

    The flash either recovers (it resynchronises with the rebooted pedal and finishes the
    slot) and the new set boots, or it reports an error and the old set boots; never anything
    else.
    """
    def version(v):
        return (make_firmware(tmp_path / f"fw{v}", version=f"v{v}"),
                make_bank(tmp_path / f"bank{v}", names=("alpha", f"b{v}"), salt=v))

    _flash(pedal, *version(1))
    running = 1
    for i, k in enumerate((0, 2, 4)):
        new = 2 + i
        seen = []

        def progress(event, step, n, k=k, seen=seen):
            if event == "start":
                seen.append(step.rel)
                if len(seen) == k + 1:
                    pedal.power_cycle()

        try:
            flash(pedal.port, board="rpi_pico", bank_dir=version(new)[1],
                  fw_dir=version(new)[0], progress=progress)
            finished = True
        except DeviceError:
            finished = False
        assert len(seen) > k  # the power really went off mid-update
        booted = _booted(pedal)["version"]
        assert booted == f"v{new}" if finished else booted in (f"v{running}", f"v{new}")
        running = int(booted[1:])
