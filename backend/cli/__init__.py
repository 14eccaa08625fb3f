"""Command line: `sae-atlas {list,build,index,train-meta,stitch,steer,add,export,publish}` (or `python -m backend`).
Every job shows progress and resumes; every error is one line (exit status 2)."""

import sys

from backend.cli.parser import parser
from backend.core.errors import AtlasError


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    try:
        args.run(args)
    except AtlasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
