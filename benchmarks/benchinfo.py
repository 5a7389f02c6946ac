"""What machine a benchmark ran on: shared by every script in benchmarks/ (run as scripts, so
they import this module from their own folder)."""

import datetime
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or '?' where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def describe() -> str:
    """One line: OS, kernel, arch, core count, CPU model."""
    u = platform.uname()
    return f"{u.system} {u.release} {platform.machine()}, {os.cpu_count()} cores ({cpu_model()})"


def machine_info() -> dict:
    """The same as a dict, with today's date, for JSON reports."""
    return {"uname": " ".join(platform.uname()), "nproc": os.cpu_count(), "cpu": cpu_model(),
            "date": datetime.date.today().isoformat()}
