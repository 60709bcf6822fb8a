"""Removes TensorFlow's C++ start-up log lines from the stored stderr of notebooks.

TensorFlow 2.21 prints absl/oneDNN lines ("WARNING: All log messages before
absl::InitializeLog() ...", "I0000 ... port.cc ... oneDNN custom operations")
when it is imported; no environment variable silences them. They are not
Python warnings and say nothing about the experiment, so they are dropped from
the stored outputs. Any other stderr line is kept (and the book tests fail on
Python warnings and tracebacks).

Usage: python tools/strip_tf_logs.py book/*.ipynb
"""

import re
import sys

import nbformat

_TF_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    r"|\s*)$"
)


def strip(path):
    nb = nbformat.read(path, as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = out["text"].splitlines(keepends=True)
                rest = [l for l in lines if not _TF_LOG.match(l.rstrip("\n"))]
                removed += len(lines) - len(rest)
                if not "".join(rest).strip():
                    continue
                out["text"] = "".join(rest)
            kept.append(out)
        cell["outputs"] = kept
    nbformat.write(nb, path)
    return removed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(f"{p}: removed {strip(p)} TensorFlow log lines")
