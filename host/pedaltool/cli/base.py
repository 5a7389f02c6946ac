"""The root click group and the error policy shared by every command.

Commands live in one module per room (``nam_cmds``, ``fit_cmds``, ``pedal_cmds``,
``device_cmds``) and only parse options, call one library function and print.
"""

import os
import sys

import click

from pedaltool import __version__
from pedaltool.errors import PedaltoolError


class PedaltoolGroup(click.Group):
    """Turns user errors into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PedaltoolError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # an internal bug: still one line unless asked for detail
            if os.environ.get("PEDALTOOL_DEBUG"):
                raise
            click.echo(
                f"error: internal error ({type(exc).__name__}: {exc}); "
                "rerun with PEDALTOOL_DEBUG=1 for a traceback and please report it",
                err=True,
            )
            sys.exit(3)


@click.group(cls=PedaltoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pedaltool")
def main() -> None:
    """pedaltool: turn a Neural Amp Modeler capture (.nam) into a tiny real-time block model
    for a MicroPython guitar pedal, verify it bit-exactly, and flash it.

    \b
    Typical use:
      pedaltool fit amp.nam        # writes ./pedals/amp.pedal and prints its accuracy
      pedaltool flash              # finds the pedal on USB and uploads the bank
      pedaltool demo               # the whole product with no hardware
    """
