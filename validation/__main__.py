"""``python -m validation [CASE ...] [--out DIR] [--no-sensitivity]``: run the validation
suite, write its tables and parity plot, print its Markdown summary. Exit 0 whether or not the
targets are met (the tables say), 2 on a user error, 1 on a bug."""

from __future__ import annotations

import argparse
import sys

from perfsim.errors import PerfsimError

from validation import suite
from validation.cases import CASES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m validation", description="perfsim against published silicon: "
        "Eyeriss v1, TPU v1 and the NVDLA primer's (estimated) ResNet-50 table.")
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help="cases to run, by name or prefix (eyeriss, tpu, nvdla); all by "
                        f"default: {', '.join(c.name for c in CASES)}")
    parser.add_argument("--out", default=suite.REPORT_DIR,
                        help="directory to write (default: reports/validation of the checkout)")
    parser.add_argument("--no-sensitivity", action="store_true",
                        help="skip the sensitivity studies of the unknown parameters")
    args = parser.parse_args(argv)
    try:
        results = suite.run(args.cases or None, sensitivity=not args.no_sensitivity)
        paths = suite.write(results, args.out)
    except (PerfsimError, OSError) as err:
        print(f"validation: error: {err}", file=sys.stderr)
        return 2
    print(results.summary())
    print(f"Wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
