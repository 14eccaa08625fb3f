"""The command line's arguments: one sub-parser per command, the shared flags (`--release`, `--sae`) declared once."""

import argparse
from pathlib import Path
from typing import TypeAlias

from backend.cli import commands
from backend.cli.arguments import finite, positions, whole, widths

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _shared() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    release = argparse.ArgumentParser(add_help=False)
    release.add_argument("--release", help="release id (default: the catalog's default)")
    sae = argparse.ArgumentParser(add_help=False, parents=[release])
    sae.add_argument("--sae", required=True, help="SAE id within the release")
    return release, sae


def _build(sub: Sub, release: argparse.ArgumentParser) -> None:
    build = sub.add_parser(
        "build", parents=[release], help="build a locally trained release (default: the embedded one)"
    )
    build.add_argument("--profile", default="default", choices=["default", "tiny"])
    when = build.add_mutually_exclusive_group()
    when.add_argument(
        "--until", choices=["usable"], help="stop once the first SAE and its index are ready (the app can open)"
    )
    when.add_argument(
        "--background", action="store_true", help="build what is missing in a detached process (progress in the app)"
    )
    build.add_argument(
        "--overlap",
        action=argparse.BooleanOptionalAction,
        help="run the CPU-bound stages (latent maps, facets) beside the others and train the second seeds "
        "together (default: when a GPU computes)",
    )
    build.set_defaults(run=commands.build)


def _what_to_index(parser: argparse.ArgumentParser) -> None:
    """The options `index` and `add` share: which tokens are indexed and what each latent keeps of them."""
    parser.add_argument(
        "--contexts", type=whole(1, 10**7), help="contexts to index (default: 1024 of the corpus, or all of --tokens)"
    )
    parser.add_argument(
        "--tokens",
        type=Path,
        help="a fixed token file (.npy/.pt/.safetensors) [contexts, tokens] instead of the corpus",
    )
    parser.add_argument("--positions", type=positions, help="positions counted per context, e.g. 6:-6 (default: all)")
    parser.add_argument("--top-k", type=whole(1, 1024), default=24, help="top examples kept per latent")


def _index(sub: Sub, sae: argparse.ArgumentParser) -> None:
    index = sub.add_parser(
        "index", parents=[sae], help="index one SAE of any release over its corpus, running the model"
    )
    _what_to_index(index)
    index.add_argument(
        "--precision", choices=["fp32", "bf16"], help="default: fp32 for --tokens, bf16 on CPU otherwise"
    )
    index.add_argument(
        "--norm-cap",
        action=argparse.BooleanOptionalAction,
        help="leave out massive-activation tokens (default: yes for the corpus, no for --tokens)",
    )
    index.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the shards on Ray: a local cluster, or an existing one ('auto', 'ray://host:10001')",
    )
    index.add_argument("--workers", type=whole(1, 4096), help="with --ray on a local cluster: tasks at once")
    index.add_argument("--shard-contexts", type=whole(1, 10**7), help="with --ray: contexts per shard (default 256)")
    index.add_argument(
        "--checkpoint-minutes",
        type=finite(0, 1440),
        help="with --ray: how often finished shards are saved, default 5 (a rerun computes only the rest)",
    )
    index.set_defaults(run=commands.index)


def _train_meta(sub: Sub, sae: argparse.ArgumentParser) -> None:
    meta = sub.add_parser("train-meta", parents=[sae], help="train a meta-SAE on an SAE's decoder rows and register it")
    meta.add_argument(
        "--d-meta", type=whole(1, 1 << 20), required=True, help="number of meta-latents (paper: about d_sae / 21)"
    )
    meta.add_argument("--k", type=whole(1, 1024), default=4, help="active meta-latents per latent in training")
    meta.add_argument("--epochs", type=finite(1e-3, 2000), default=200)
    meta.set_defaults(run=commands.train_meta)


def _stitch(sub: Sub, release: argparse.ArgumentParser) -> None:
    from backend.stitching.curves import ORDERS, CurveConfig
    from backend.stitching.matching import DEFAULT_THRESHOLD

    stitch = sub.add_parser("stitch", parents=[release], help="stitching curves of every neighbouring pair of SAEs")
    stitch.add_argument(
        "--threshold", type=finite(0.5, 1.0), default=DEFAULT_THRESHOLD, help="reconstruction cosine threshold"
    )
    stitch.add_argument("--order", default="grouped", choices=ORDERS)
    stitch.add_argument(
        "--loss-points",
        type=whole(0, 64),
        default=CurveConfig.loss_points,
        help="points with the model's loss (0: none)",
    )
    stitch.set_defaults(run=commands.stitch)


def _lenses(sub: Sub, release: argparse.ArgumentParser) -> None:
    lenses = sub.add_parser(
        "lenses",
        parents=[release],
        help="the canonical-units lenses (seeds, co-firing, absorption, facets) of a release; a built one is built",
    )
    lenses.set_defaults(run=commands.lenses)


def _add(sub: Sub) -> None:
    add = sub.add_parser("add", help="add your own SAE (or a family) to the catalog and index it")
    add.add_argument("--id", required=True, help="release id for the catalog (letters, digits, . _ -)")
    add.add_argument(
        "--sae", action="append", required=True, help="a SAELens folder or Hub owner/name[@rev][/subfolder]; repeat"
    )
    add.add_argument("--model", help="Hugging Face model id, local:<folder> or embedded:<name> (default: the SAE's)")
    add.add_argument("--hook", help="e.g. blocks.8.hook_resid_pre (default: from the SAE config)")
    add.add_argument("--convention", choices=["hf", "transformer_lens"], help="default: from how the SAE was trained")
    add.add_argument("--context-size", type=whole(2, 1 << 16), help="tokens per context (default: the SAE config's)")
    add.add_argument(
        "--corpus", default="wordnet", help="wordnet, hub:<dataset repo>, or a .txt/.jsonl/.parquet file or folder"
    )
    add.add_argument("--column", default="text", help="the text column of .jsonl/.parquet/Hub data")
    _what_to_index(add)
    add.add_argument("--meta-sae", type=whole(1, 1 << 20), help="also train a meta-SAE with this many meta-latents")
    add.add_argument(
        "--widths", type=widths, help="one Matryoshka SAE as a family of its prefixes, e.g. 1152,2304,4608 (default: "
        "its cfg.json's matryoshka_widths)"
    )  # fmt: skip
    add.add_argument("--title")
    add.set_defaults(run=commands.add)


def _export(sub: Sub, release: argparse.ArgumentParser) -> None:
    export = sub.add_parser("export", parents=[release], help="a card as JSON, or a table as CSV/Parquet")
    export.add_argument(
        "what", choices=["card", "latents", "decompositions", "stitching", "canonicality", "families"],
        help="families: the families trained from the release's data side by side, per size (no --sae)",
    )  # fmt: skip
    export.add_argument("--sae", help="SAE id, for all but families (for stitching: the larger SAE of the pair)")
    export.add_argument("--latent", type=whole(0, 1 << 30), help="the latent, for a card")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv", help="for tables")
    export.add_argument("--threshold", type=finite(0.5, 1.0), default=0.7, help="for stitching")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    export.set_defaults(run=commands.export)


def _publish(sub: Sub, release: argparse.ArgumentParser) -> None:
    publish = sub.add_parser("publish", parents=[release], help="write a release's artifacts as a Hub repo")
    publish.add_argument("--repo", required=True, help="the Hub repo it will live in, owner/name")
    publish.add_argument("--revision", help="pin a branch, tag or commit in the catalog entry")
    publish.add_argument("--out", type=Path, required=True, help="an empty folder to write into")
    publish.add_argument("--upload", action="store_true", help="upload with huggingface_hub (needs a token)")
    publish.set_defaults(run=commands.publish)


def _steer(sub: Sub, sae: argparse.ArgumentParser) -> None:
    steer = sub.add_parser("steer", parents=[sae], help="continue a prompt steered by a latent or meta-latent")
    which = steer.add_mutually_exclusive_group(required=True)
    which.add_argument("--latent", type=int, help="latent whose decoder direction steers")
    which.add_argument("--meta", type=int, help="meta-latent (of the SAE's meta-SAE) whose direction steers")
    steer.add_argument("--prompt", required=True)
    steer.add_argument(
        "--strength", type=finite(-100, 100), default=2.0, help="multiples of the latent's largest activation"
    )
    steer.add_argument("--clamp", action="store_true", help="clamp the latent to the strength instead of adding")
    steer.add_argument("--tokens", type=whole(1, 200), default=40, help="new tokens to generate")
    steer.add_argument("--temperature", type=finite(0, 2), default=0.7, help="0 = greedy")
    steer.add_argument("--seed", type=int, default=0)
    steer.set_defaults(run=commands.steer)


def parser(description: str | None) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sae-atlas", description=description)
    sub = root.add_subparsers(dest="command", required=True)
    release, sae = _shared()
    sub.add_parser("list", help="list the releases of the catalog").set_defaults(run=commands.list_releases)
    _build(sub, release)
    _index(sub, sae)
    _train_meta(sub, sae)
    _stitch(sub, release)
    _lenses(sub, release)
    _add(sub)
    _export(sub, release)
    _publish(sub, release)
    _steer(sub, sae)
    return root
