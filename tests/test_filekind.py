"""What a file is by its first bytes (pedaltool.filekind): the hint a wrong argument gets."""

from pedaltool.filekind import file_kind, wrong_kind_hint


def test_kinds_and_hints():
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt "
    assert file_kind(wav) == "wav" and file_kind(b"RF64\xff\xff\xff\xffWAVEds64") == "wav"
    # a RIFF that is no WAVE (an AVI) is not called a WAV anywhere (a review)
    assert file_kind(b"RIFF\x10\x00\x00\x00AVI LIST") is None
    assert file_kind(b'\xef\xbb\xbf  {"version": "0.5.4"}') == "nam"  # a BOM, as .nam allows
    assert file_kind(b"PDL1\x01\x00") == "pedal" and file_kind(b"hello") is None
    assert wrong_kind_hint(wav, "nam") == "a WAV file"
    assert wrong_kind_hint(wav, "wav") is None  # the expected kind: the reader's reason stands
    assert wrong_kind_hint(b'{"a": 1}', "pedal") == "JSON, a .nam capture?"
    # the order only where there is one (several files in an order): a bank's file, an
    # option's or a command's only file was told to "check the order of the arguments" (an
    # audit)
    assert wrong_kind_hint(wav, "nam", order_hint=True) == ("a WAV file: check the order of "
                                                            "the arguments")
    assert wrong_kind_hint(b'{"a": 1}', "pedal", order_hint=True) == (
        "JSON, a .nam capture? check the order of the arguments")
    assert wrong_kind_hint(wav, "wav", order_hint=True) is None
