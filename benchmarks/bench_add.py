"""`add` from a SAELens folder and a local text file to a browsable card, timed.

    .venv/bin/python benchmarks/bench_add.py [--sae-folder PATH] [--tokens 150000]

Default SAE: the embedded default's SAE-4608 (built by `python -m backend build`), copied to a scratch
folder as any SAELens folder would be; corpus: Debian's /usr/share/doc copyright texts written to one .txt
file (plain English and licence prose, not WordNet). Runs in a scratch data directory. Target (issue 17):
under 2 minutes on 2 cores for 4,608 latents over 150k tokens.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_corpus(path: Path, chars: int) -> None:
    texts = []
    for copyright_file in sorted(Path("/usr/share/doc").glob("*/copyright")):
        texts.append(copyright_file.read_text(errors="replace"))
        if sum(map(len, texts)) > chars:
            break
    path.write_text("".join(texts)[:chars])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae-folder", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=150_000)
    args = parser.parse_args()
    from backend.core.config import data_dir

    source = args.sae_folder or data_dir() / "releases" / "smollm2-wordnet" / "sae-4608"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "my-sae"
        shutil.copytree(source, folder)
        corpus = Path(scratch) / "corpus.txt"
        write_corpus(corpus, args.tokens * 6)
        os.environ["ATLAS_DATA_DIR"] = str(Path(scratch) / "data")
        from backend.index.cards import CardReader
        from backend.index.store import IndexReader
        from backend.pipeline.add import AddRequest, add_release
        from backend.sources.release import CorpusSpec

        contexts = args.tokens // 127  # 128-token contexts hold 127 corpus tokens after BOS
        start = time.perf_counter()
        release = add_release(
            AddRequest("mine", (str(folder),), CorpusSpec("local", path=str(corpus)), contexts=contexts)
        )
        added = time.perf_counter() - start
        card = CardReader(IndexReader.open(release.paths.index(release.sae_ids[0]))).card(0)
        meta = IndexReader.open(release.paths.index(release.sae_ids[0])).meta
        print("| SAE | contexts | tokens indexed | add, total s | first card |")
        print("| --- | --- | --- | --- | --- |")
        print(
            f"| {release.sae_ids[0]} | {meta['n_contexts']} | {meta['n_tokens']:,} | {added:.1f} | #{card.latent} {card.label} |"
        )
        print(f"target: under 120 s -> {'met' if added < 120 else 'not met'}")


if __name__ == "__main__":
    main()
