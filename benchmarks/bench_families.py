"""The embedded default's families side by side, from a fresh build (issue 45): times `scripts/run.sh`'s two build
steps from an empty data directory (`sae-atlas build --until usable`, then `sae-atlas build`, which builds the
standard family and then the Matryoshka family trained from its activations), and with `--on-request` then times
`sae-atlas build --release <it>` for each family built only on request (the BatchTopK control); prints each family's
slowest stages, then the families side by side per size (what the Canonical units? page shows: every compared lens,
FVU, L0, Δ next-token loss), each family's meta-SAE, and the sentences the page says, grouped by comparison.

    .venv/bin/python benchmarks/bench_families.py [--data DIR]     # a fresh build into DIR (deleted first)
    .venv/bin/python benchmarks/bench_families.py --built          # the tables of the data directory as built
    .venv/bin/python benchmarks/bench_families.py --built --on-request --copy-of DIR
        # the on-request families built (and timed) in a copy of DIR's built families (hard links), then the tables
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/atlas-families-bench"))
    parser.add_argument("--built", action="store_true", help="print the tables of ATLAS_DATA_DIR as built")
    parser.add_argument("--on-request", action="store_true", help="build and time the families built on request")
    parser.add_argument("--copy-of", type=Path, help="with --built --on-request: a data directory to copy into --data")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    command = [sys.executable, "-m", "backend", "build"]
    if not args.built:
        shutil.rmtree(args.data, ignore_errors=True)
        env = {**os.environ, "ATLAS_DATA_DIR": str(args.data)}
        usable = _timed([*command, "--until", "usable"], env)
        rest = _timed(command, env)
        print(f"usable after {_clock(usable)}; both families with every lens after {_clock(usable + rest)} "
              "(from an empty data directory, the model converted from its wheel; install not included)")  # fmt: skip
        os.environ["ATLAS_DATA_DIR"] = str(args.data)
    elif args.copy_of is not None:
        shutil.rmtree(args.data, ignore_errors=True)
        shutil.copytree(args.copy_of, args.data, copy_function=os.link)  # every write replaces a file: links are safe
        os.environ["ATLAS_DATA_DIR"] = str(args.data)
    if args.on_request:
        _build_on_request(command)
    _tables()


def _build_on_request(command: list[str]) -> None:
    """Times `build --release <it>` for each family of the default release built only on request and not built."""
    from backend.sources.catalog import default_release_id, get_release, load_catalog, on_request

    for family in on_request(get_release(default_release_id(load_catalog()))):
        took = _timed([*command, "--release", family.id], dict(os.environ))
        print(f"{family.id} (on request) built with every lens in {_clock(took)}")


def _markdown(frame: "object") -> str:
    """A table as Markdown, numbers to three significant figures."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)

    def cell(v: object) -> str:
        if isinstance(v, str):
            return v
        number = float(v)  # type: ignore[arg-type]
        return "" if pd.isna(number) else f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"

    cells = [[cell(v) for v in row] for row in frame.to_numpy()]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def _tables() -> None:
    import pandas as pd

    from backend.lenses.compare import said
    from backend.pipeline.artifacts import families_meta, families_table
    from backend.pipeline.progress import read_progress
    from backend.sources.catalog import default_release_id, families_of, get_release, load_catalog

    pd.set_option("display.width", 250)
    release = get_release(default_release_id(load_catalog()))
    families = families_of(release)
    for family in families:
        progress = read_progress(family)
        spent = sorted((progress.seconds if progress else {}).items(), key=lambda item: -item[1])
        print(f"{family.id}, slowest stages of its last run: " + ", ".join(f"{n} {s:.0f} s" for n, s in spent[:8]))
    table, metas = families_table(release), families_meta(release)
    print(_markdown(table))
    print(_markdown(metas))
    for heading, sentences in said(families, table, metas):
        print(f"\n{heading}:\n" + "\n".join(f"- {sentence}" for sentence in sentences))


if __name__ == "__main__":
    main()
