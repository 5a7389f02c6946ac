"""The ``pedaltool`` console script's first step: import the command line, then run it.

Importing it (click, numpy, the rooms' modules) takes a moment, and Ctrl-C in that moment
raised out of an import with a traceback (an audit). Here it ends as every interrupt of a
command does: one line, exit 130. Nothing else is imported first: this must stay light.
"""

import sys


def run() -> None:
    """:func:`pedaltool.cli.run`, with an interrupt during its import said in one line."""
    try:
        from pedaltool.cli import run as run_command
    except KeyboardInterrupt:
        # cli.base.interrupt_text's word for Ctrl-C (that module is what was being imported)
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    run_command()
