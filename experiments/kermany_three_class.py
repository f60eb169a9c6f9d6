#!/usr/bin/env python3
"""Kermany's three-class task (NORMAL, BACTERIA, VIRUS from the file names) as a CSV data set.

    python experiments/kermany_three_class.py --data ../shared/data/chest_xray \
        --out results/kermany-3class/kermany3.csv

The CSV (path, label, patient, split) lists paths relative to its own folder, so the data
folder is only read; any script takes it as ``--data``. An image whose name says neither
bacteria nor virus is left out and listed.
"""

from __future__ import annotations

import argparse
import sys

from cxr_gan import cli
from cxr_gan.data.kermany import write_three_class_csv


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, metavar="DIR", help="Kermany's chest_xray folder")
    parser.add_argument("--out", required=True, metavar="FILE", help="the CSV to write (new)")
    args = parser.parse_args(argv)
    written, skipped = write_three_class_csv(args.data, args.out)
    print(f"Wrote {written} rows to {args.out}; {len(skipped)} images left out")
    for path, reason in skipped:
        print(f"  {path}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
