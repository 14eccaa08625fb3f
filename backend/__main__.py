"""Command line: `python -m backend {list,build,index,train-meta,stitch,steer,add,export,publish}`. Every job shows progress and resumes.

Each command imports what it needs when it runs, so `list` and `--help` answer without loading torch.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from backend.core.errors import AtlasError
from backend.sources.catalog import default_release_id, get_release, load_catalog

if TYPE_CHECKING:
    from backend.sources.catalog import Release
    from backend.steering.directions import Direction

WAIT_SECONDS = 10
N = TypeVar("N", int, float)


def _bounded(kind: type[N], low: N, high: N) -> Callable[[str], N]:
    """An argparse type: an int or float in [low, high] (nan and inf are refused) with a one-line message."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r:.40} is not a {'whole ' if kind is int else ''}number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value

    return parse


def _whole(low: int, high: int) -> Callable[[str], int]:
    return _bounded(int, low, high)


def _finite(low: float, high: float) -> Callable[[str], float]:
    return _bounded(float, low, high)


def _slice(text: str) -> tuple[int, int | None]:
    """`A:B` (Python slice bounds, B may be empty or negative) as an argparse type."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(start or 0), int(stop) if stop else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r:.40} is not START:STOP, e.g. 6:-6") from None


def _list(_args: argparse.Namespace) -> None:
    catalog = load_catalog()
    default = default_release_id(catalog)
    for rid, release in catalog.items():
        mark = "*" if rid == default else " "
        print(f"{mark} {rid:28s} {release.title}  [SAEs: {', '.join(release.sae_ids)}]")


def _build(args: argparse.Namespace) -> None:
    from backend.pipeline.build import USABLE, build_release, read_summary, ready_saes
    from backend.pipeline.progress import BuildRunning, read_progress, start_background_build

    release = get_release(args.release or default_release_id(load_catalog()))
    if args.background:
        if read_summary(release).get("complete"):
            print(f"{release.id} is built.")
            return
        progress = read_progress(release)
        if progress is not None and progress.state == "running":
            print(f"{release.id} is already being built (pid {progress.pid}); progress is on the overview page.")
            return
        pid, log = start_background_build(release, args.profile)
        print(
            f"Building the rest of {release.id} in the background (pid {pid}): progress on the overview page, log {log}"
        )
        return
    until = USABLE if args.until == "usable" else None
    while True:
        try:
            summary = build_release(release, args.profile, until=until)
            break
        except BuildRunning as err:
            # Another build (e.g. the background one from an earlier run) holds the release: wait for it,
            # or only until the app is usable when that is all this run needs.
            if until and ready_saes(release):
                return
            progress = read_progress(release)
            where = f" ({progress.step}: {progress.done}/{progress.total})" if progress else ""
            print(f"{err} Waiting for it{where}…", file=sys.stderr)
            time.sleep(WAIT_SECONDS)
    if summary.get("complete"):
        print(json.dumps(summary["metrics"], indent=1))


def _index(args: argparse.Namespace) -> None:
    from backend.index.release import IndexSettings, index_release_sae

    release = get_release(args.release or default_release_id(load_catalog()))
    settings = IndexSettings(
        contexts=args.contexts,
        tokens=args.tokens,
        positions=args.positions,
        precision=args.precision,
        top_k=args.top_k,
        norm_cap=args.norm_cap,
    )
    folder = index_release_sae(release, args.sae, settings)
    print(f"index written to {folder}")


def _train_meta(args: argparse.Namespace) -> None:
    from backend.core.progress import TqdmReporter, step_progress
    from backend.training.meta import MetaTrainConfig, train_meta_for

    release = get_release(args.release or default_release_id(load_catalog()))
    progress = step_progress(TqdmReporter(), f"train meta-SAE on {release.id}/{args.sae}")
    cfg = MetaTrainConfig(d_meta=args.d_meta, k=args.k, epochs=args.epochs)
    print(f"registered {train_meta_for(release, args.sae, cfg, progress)}")


def _stitch(args: argparse.Namespace) -> None:
    from backend.core.config import default_device
    from backend.core.progress import TqdmReporter
    from backend.models.language import load_language_model
    from backend.stitching.family import CurveConfig, compute_curves

    release = get_release(args.release or default_release_id(load_catalog()))
    settings = CurveConfig(threshold=args.threshold, order=args.order, loss_points=args.loss_points)
    curves = compute_curves(release, settings, load_language_model(release.model, default_device()), TqdmReporter())
    print(curves[curves["kind"] == "sae"].to_string(index=False))


def _steering_direction(args: argparse.Namespace, release: "Release") -> "Direction":
    """The direction of `--latent` (or `--meta`), scaled by maxima from the SAE's index."""
    import torch

    from backend.index.cards import CardReader
    from backend.index.store import IndexReader
    from backend.metasae.decompose import build_decompositions
    from backend.models.loading import load_meta_sae, load_sae
    from backend.steering.directions import latent_direction, meta_direction

    index = CardReader(IndexReader(release.paths.index(args.sae)))
    sae = load_sae(release, args.sae).sae
    if args.meta is None:
        return latent_direction(sae, args.latent, index.card(args.latent).max)
    metas = release.meta_for(args.sae)
    if not metas:
        raise AtlasError(f"SAE {args.sae} of {release.id} has no meta-SAE; steer with --latent instead.")
    meta = load_meta_sae(release, metas[0].id, sae)
    members = [latent for latent, _ in build_decompositions(meta, sae).members(args.meta)]
    max_acts = torch.tensor(index.index.table(["max"])["max"].to_numpy(dtype="float32"))
    return meta_direction(meta, args.meta, sae, members, max_acts)


def _steer(args: argparse.Namespace) -> None:
    from backend.core.config import default_device
    from backend.models.language import load_language_model
    from backend.steering.generate import SteerConfig, steered_generation

    release = get_release(args.release or default_release_id(load_catalog()))
    cfg = SteerConfig(args.strength, args.clamp, args.tokens, args.temperature, args.seed)
    direction = _steering_direction(args, release)
    lm = load_language_model(release.model, default_device())
    prompt = lm.tokenize(args.prompt)
    steered: list[int] = []
    plain: list[int] = []
    print(f"steered ({'clamped to' if cfg.clamp else 'strength'} {cfg.strength:g}): {args.prompt}", end="", flush=True)
    for step in steered_generation(lm, release.hook, release.convention, prompt, direction, cfg):
        if step.steered is not None:
            shown = len(lm.decode(steered))
            steered.append(step.steered)
            print(lm.decode(steered)[shown:], end="", flush=True)
        if step.plain is not None:
            plain.append(step.plain)
    print(f"\nunsteered: {args.prompt}{lm.decode(plain)}")


def _add(args: argparse.Namespace) -> None:
    from backend.pipeline.add import AddRequest, add_release
    from backend.sources.catalog import CorpusSpec

    if args.corpus == "wordnet":
        corpus = CorpusSpec("wordnet")
    elif args.corpus.startswith("hub:"):
        corpus = CorpusSpec("hub", repo=args.corpus.removeprefix("hub:"), column=args.column)
    else:
        corpus = CorpusSpec("local", path=str(Path(args.corpus).expanduser().resolve()), column=args.column)
    request = AddRequest(
        release_id=args.id,
        sources=tuple(args.sae),
        corpus=corpus,
        model=args.model,
        hook=args.hook,
        convention=args.convention,
        context_size=args.context_size,
        contexts=args.contexts,
        d_meta=args.meta_sae,
        title=args.title or "",
        tokens=args.tokens,
    )
    release = add_release(request)
    print(f"added {release.id} (SAEs {', '.join(release.sae_ids)}); open it with:")
    print(f"  scripts/run.sh, then /latent?release={release.id}&sae={release.sae_ids[-1]}&latent=0")


def _export(args: argparse.Namespace) -> None:
    from backend.explore import exports
    from backend.index.cards import CardReader
    from backend.index.store import IndexReader
    from backend.metasae.decompose import build_decompositions
    from backend.models.loading import load_meta_sae, load_sae
    from backend.stitching.family import neighbour_pairs, pair_classification

    release = get_release(args.release or default_release_id(load_catalog()))
    release.sae(args.sae)
    if args.what == "card":
        if args.latent is None:
            raise AtlasError("Exporting a card needs --latent.")
        card = CardReader(IndexReader(release.paths.index(args.sae))).card(args.latent)
        _write(exports.card_json(card, release.id, args.sae).encode(), args.out)
        return
    if args.what == "latents":
        frame = IndexReader(release.paths.index(args.sae)).table()
    elif args.what == "decompositions":
        metas = release.meta_for(args.sae)
        if not metas:
            raise AtlasError(f"SAE {args.sae} of {release.id} has no meta-SAE to export decompositions of.")
        sae = load_sae(release, args.sae).sae
        frame = exports.decomposition_table(build_decompositions(load_meta_sae(release, metas[0].id, sae), sae))
    else:
        small = next((a for a, b in neighbour_pairs(release) if b == args.sae), None)
        found = pair_classification(release, small, args.sae, args.threshold) if small else None
        if found is None:
            raise AtlasError(f"No stored matching ends at SAE {args.sae}: run `python -m backend stitch` first.")
        frame = exports.classification_table(found, str(small), args.sae)
    if args.format == "parquet" and args.out is None:
        raise AtlasError("Parquet is binary: give --out FILE.")
    _write(exports.table_bytes(frame, args.format), args.out)


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)


def _publish(args: argparse.Namespace) -> None:
    from backend.pipeline.publish import CATALOG, publish_folder, upload

    release = get_release(args.release or default_release_id(load_catalog()))
    out = publish_folder(release, args.out, args.repo, args.revision)
    print(f"wrote {out}; serve it with ATLAS_CATALOG={out / CATALOG} once it is on the Hub as {args.repo}")
    if args.upload:
        print(f"uploaded: {upload(out, args.repo)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the releases of the catalog").set_defaults(run=_list)
    build = sub.add_parser("build", help="build a locally trained release (default: the embedded default)")
    build.add_argument("--release", help="release id (default: the catalog's default)")
    build.add_argument("--profile", default="default", choices=["default", "tiny"])
    when = build.add_mutually_exclusive_group()
    when.add_argument(
        "--until", choices=["usable"], help="stop once the first SAE and its index are ready (the app can open)"
    )
    when.add_argument(
        "--background", action="store_true", help="build what is missing in a detached process (progress in the app)"
    )
    build.set_defaults(run=_build)
    index = sub.add_parser("index", help="index one SAE of any release over its corpus, running the model")
    index.add_argument("--release", help="release id (default: the catalog's default)")
    index.add_argument("--sae", required=True, help="SAE id within the release")
    index.add_argument("--contexts", type=_whole(1, 10**7), default=1024, help="contexts to index (at most)")
    index.add_argument("--tokens", type=Path, help="a fixed token file (.npy/.pt/.safetensors) [contexts, tokens]")
    index.add_argument("--positions", type=_slice, help="positions counted per context, e.g. 6:-6 (default: all)")
    index.add_argument(
        "--precision", choices=["fp32", "bf16"], help="default: fp32 for --tokens, bf16 on CPU otherwise"
    )
    index.add_argument("--top-k", type=_whole(1, 1024), default=24, help="top examples kept per latent")
    index.add_argument(
        "--norm-cap",
        action=argparse.BooleanOptionalAction,
        help="leave out massive-activation tokens (default: yes for the corpus, no for --tokens)",
    )
    index.set_defaults(run=_index)
    meta = sub.add_parser("train-meta", help="train a meta-SAE on an SAE's decoder rows and register it")
    meta.add_argument("--release", help="release id (default: the catalog's default)")
    meta.add_argument("--sae", required=True, help="SAE id within the release")
    meta.add_argument(
        "--d-meta", type=_whole(1, 1 << 20), required=True, help="number of meta-latents (paper: about d_sae / 21)"
    )
    meta.add_argument("--k", type=_whole(1, 1024), default=4, help="active meta-latents per latent in training")
    meta.add_argument("--epochs", type=_finite(1e-3, 2000), default=200)
    meta.set_defaults(run=_train_meta)
    from backend.stitching.curves import ORDERS
    from backend.stitching.family import CurveConfig
    from backend.stitching.matching import DEFAULT_THRESHOLD

    stitch = sub.add_parser("stitch", help="stitching curves of every neighbouring pair of a release's SAEs")
    stitch.add_argument("--release", help="release id (default: the catalog's default)")
    stitch.add_argument(
        "--threshold", type=_finite(0.5, 1.0), default=DEFAULT_THRESHOLD, help="reconstruction cosine threshold"
    )
    stitch.add_argument("--order", default="grouped", choices=ORDERS)
    stitch.add_argument(
        "--loss-points",
        type=_whole(0, 64),
        default=CurveConfig.loss_points,
        help="points with the model's loss (0: none)",
    )
    stitch.set_defaults(run=_stitch)
    add = sub.add_parser("add", help="add your own SAE (or a family) to the catalog and index it")
    add.add_argument("--id", required=True, help="release id for the catalog (letters, digits, . _ -)")
    add.add_argument(
        "--sae",
        action="append",
        required=True,
        help="a SAELens folder or Hub owner/name[@rev][/subfolder]; repeat for a family",
    )
    add.add_argument(
        "--model", help="Hugging Face model id, local:<folder> or embedded:<name> (default: from the SAE config)"
    )
    add.add_argument("--hook", help="e.g. blocks.8.hook_resid_pre (default: from the SAE config)")
    add.add_argument("--convention", choices=["hf", "transformer_lens"], help="default: from how the SAE was trained")
    add.add_argument("--context-size", type=_whole(2, 1 << 16), help="tokens per context (default: the SAE config's)")
    add.add_argument(
        "--corpus", default="wordnet", help="wordnet, hub:<dataset repo>, or a .txt/.jsonl/.parquet file or folder"
    )
    add.add_argument("--column", default="text", help="the text column of .jsonl/.parquet/Hub data")
    add.add_argument("--contexts", type=_whole(1, 10**7), default=1024, help="corpus contexts to index")
    add.add_argument("--meta-sae", type=_whole(1, 1 << 20), help="also train a meta-SAE with this many meta-latents")
    add.add_argument("--tokens", type=Path, help="index this fixed token file instead of the corpus")
    add.add_argument("--title")
    add.set_defaults(run=_add)
    export = sub.add_parser("export", help="a card as JSON, or a table as CSV/Parquet, to a file or stdout")
    export.add_argument("what", choices=["card", "latents", "decompositions", "stitching"])
    export.add_argument("--release", help="release id (default: the catalog's default)")
    export.add_argument("--sae", required=True, help="SAE id (for stitching: the larger SAE of the pair)")
    export.add_argument("--latent", type=_whole(0, 1 << 30), help="the latent, for a card")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv", help="for tables")
    export.add_argument("--threshold", type=_finite(0.5, 1.0), default=0.7, help="for stitching")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    export.set_defaults(run=_export)
    publish = sub.add_parser("publish", help="write a release's artifacts as a Hub repo (and upload it)")
    publish.add_argument("--release", help="release id (default: the catalog's default)")
    publish.add_argument("--repo", required=True, help="the Hub repo it will live in, owner/name")
    publish.add_argument("--revision", help="pin a branch, tag or commit in the catalog entry")
    publish.add_argument("--out", type=Path, required=True, help="an empty folder to write into")
    publish.add_argument("--upload", action="store_true", help="upload with huggingface_hub (needs a token)")
    publish.set_defaults(run=_publish)
    steer = sub.add_parser(
        "steer", help="continue a prompt steered by a latent (or meta-latent), beside the plain text"
    )
    steer.add_argument("--release", help="release id (default: the catalog's default)")
    steer.add_argument("--sae", required=True, help="SAE id within the release (it needs an index)")
    which = steer.add_mutually_exclusive_group(required=True)
    which.add_argument("--latent", type=int, help="latent whose decoder direction steers")
    which.add_argument("--meta", type=int, help="meta-latent (of the SAE's meta-SAE) whose direction steers")
    steer.add_argument("--prompt", required=True)
    steer.add_argument(
        "--strength", type=_finite(-100, 100), default=2.0, help="multiples of the latent's largest activation"
    )
    steer.add_argument("--clamp", action="store_true", help="clamp the latent to the strength instead of adding")
    steer.add_argument("--tokens", type=_whole(1, 200), default=40, help="new tokens to generate")
    steer.add_argument("--temperature", type=_finite(0, 2), default=0.7, help="0 = greedy")
    steer.add_argument("--seed", type=int, default=0)
    steer.set_defaults(run=_steer)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except AtlasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
