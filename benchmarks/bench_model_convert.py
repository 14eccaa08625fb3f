"""The embedded model's conversion from its GGUF wheel (issue 47, item 2): the first thing a build from an empty data
directory does, before anything can train, so all of it is on the path to usable.

Each run is a fresh process converting into a fresh data directory, as `python -m backend build` does on a new
machine: `embedded_model_dir` (the build's own call: the file parsed once) against the same three `from_pretrained`
calls left to transformers (the file parsed three times, gguf's tensor-name table built per module). Runs alternate,
`--runs` of each; the seconds are the conversion's own (imports timed apart), the build's including the writing of
its safetensors copy, which the other does not do.

    .venv/bin/python benchmarks/bench_model_convert.py [--runs 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, os, sys, time
start = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from backend.models.embedded import EMBEDDED_MODELS, embedded_model_dir, package_dir
imported = time.perf_counter()
name = "smollm2-135m-instruct"
if sys.argv[1] == "build":
    embedded_model_dir(name)
else:
    spec = EMBEDDED_MODELS[name]
    AutoTokenizer.from_pretrained(package_dir(spec), gguf_file=spec.gguf_file)
    AutoModelForCausalLM.from_pretrained(package_dir(spec), gguf_file=spec.gguf_file, dtype=torch.float32)
print(json.dumps({"imports": imported - start, "convert": time.perf_counter() - imported}))
"""

WAYS = {
    "build": "`embedded_model_dir` (the build's path)",
    "transformers": "transformers' own two `from_pretrained` calls",
}


def one_run(way: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        done = subprocess.run(
            [sys.executable, "-c", RUN, way],
            cwd=ROOT,
            env={**os.environ, "ATLAS_DATA_DIR": data, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(args.runs):
        for way in WAYS:
            run = one_run(way)
            seconds[way].append(run["convert"])
            print(f"{way}: convert {run['convert']:.2f} s (imports {run['imports']:.2f} s)", flush=True)
    print("\n| conversion | median s | runs s |\n| --- | --- | --- |")
    for way, label in WAYS.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds[way])
        print(f"| {label} | {statistics.median(seconds[way]):.2f} | {runs} |")
    ratio = statistics.median(seconds["build"]) / statistics.median(seconds["transformers"])
    print(f"\nthe build's conversion / transformers' own: {ratio:.2f}x")


if __name__ == "__main__":
    main()
