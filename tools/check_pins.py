"""Prints the installed version of every package a requirements file pins, and fails on a mismatch.

`make test-floor` runs it before the tests, so that the job shows (and checks) that the floor
versions of requirements-floor.txt are the ones installed, not newer ones pulled in by a
dependency.

Usage: python tools/check_pins.py requirements-floor.txt
"""

import importlib.metadata
import platform
import re
import sys

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path):
    """(name, version) of every `name==version` line of a requirements file."""
    with open(path, encoding="utf-8") as f:
        return [m.groups() for m in map(_PIN.match, (line.strip() for line in f)) if m]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    wanted = pins(argv[1])
    if not wanted:
        print(f"no `name==version` lines in {argv[1]}", file=sys.stderr)
        return 2
    print(f"python {platform.python_version()}")
    bad = []
    for name, version in wanted:
        try:
            installed = importlib.metadata.version(_canonical(name))
        except importlib.metadata.PackageNotFoundError:
            installed = None
        ok = installed == version
        print(f"{name:<24} {installed or 'not installed':<12} {'' if ok else f'(wanted {version})'}")
        if not ok:
            bad.append(name)
    if bad:
        print(f"{argv[1]}: not installed at the pinned version: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
