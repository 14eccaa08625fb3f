"""What each command does; each imports what it needs when it runs, so `list` and `--help` answer without
loading torch."""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.cli.arguments import from_flags
from backend.core.errors import AtlasError
from backend.sources.catalog import (
    default_release_id,
    download_published,
    families_of,
    get_release,
    load_catalog,
    trained_from,
)

if TYPE_CHECKING:
    from backend.sources.release import Release
    from backend.steering.directions import Direction

WAIT_SECONDS = 10


def _release(args: argparse.Namespace) -> "Release":
    """The release `--release` names (the catalog's default without it), its published repo fetched first; the SAE
    `--sae` names, where a command takes one, is one of its family."""
    release = get_release(args.release or default_release_id(load_catalog()))
    if isinstance(getattr(args, "sae", None), str):
        release.family_sae(args.sae)
    download_published(release)
    return release


def list_releases(_args: argparse.Namespace) -> None:
    catalog = load_catalog()
    default = default_release_id(catalog)
    for rid, release in catalog.items():
        mark = "*" if rid == default else " "
        print(f"{mark} {rid:28s} {release.title}  [SAEs: {', '.join(release.sae_ids)}]")


def build(args: argparse.Namespace) -> None:
    from backend.pipeline.build import USABLE, read_summary
    from backend.pipeline.progress import read_progress, start_background_build

    release = _release(args)
    # The families trained from its data follow it: they read its activations, and the app compares them. A family
    # is compared with those listed before it, which its build reads: the unfinished ones are built first.
    listed = families_of(release)
    earlier = listed[: listed.index(release)] if release in listed else []
    releases = [*(one for one in earlier if not read_summary(one).get("complete")), release, *trained_from(release)]
    if args.background:
        if all(read_summary(one).get("complete") for one in releases):
            print(f"{', '.join(one.id for one in releases)} built.")
            return
        progress = read_progress(release)
        if progress is not None and progress.state == "running":
            print(f"{release.id} is already being built (pid {progress.pid}); progress is on the overview page.")
            return
        pid, log = start_background_build(release, args.profile, args.overlap)
        then = "".join(f", then {other.id}" for other in releases[1:])
        print(
            f"Building the rest of {release.id}{then} in the background (pid {pid}): progress on the overview page, "
            f"log {log}"
        )
        return
    until = USABLE if args.until == "usable" else None
    for one in [release] if until else releases:
        summary = _build_one(one, args.profile, until, args.overlap)
        if summary.get("complete"):
            print(f"{one.id}:", json.dumps(summary["metrics"], indent=1))
        progress = read_progress(one)
        if progress is not None and progress.seconds:
            spent = sorted(progress.seconds.items(), key=lambda item: -item[1])
            shown = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in spent if seconds >= 1)
            stages = sum(progress.seconds.values())
            overlapped = f" (its stages {stages:.0f} s, some beside others)" if stages > progress.wall() + 1 else ""
            print(f"{one.id}: {progress.wall():.0f} s in this run{overlapped} ({shown or 'no stage took a second'})")
            if progress.inputs:
                print(f"{one.id}: inputs loaded in this run, within those stages: {progress.inputs_said()}")
            usable = progress.reached(USABLE)
            if usable is not None:
                print(f"{one.id}: usable (its first SAE and index) after {usable:.0f} s")


def _build_one(release: "Release", profile: str, until: str | None, overlap: bool | None) -> dict[str, Any]:
    """Build one release, waiting for another build of it (e.g. the background one from an earlier run) to end,
    or only until the app is usable when that is all this run needs."""
    from backend.pipeline.build import build_release, ready_saes
    from backend.pipeline.progress import BuildRunning, read_progress

    while True:
        try:
            return build_release(release, profile, until=until, overlap=overlap)
        except BuildRunning as err:
            if until and ready_saes(release):
                return {}
            progress = read_progress(release)
            where = f" ({progress.step}: {progress.done}/{progress.total})" if progress else ""
            print(f"{err} Waiting for it{where}…", file=sys.stderr)
            time.sleep(WAIT_SECONDS)


def index(args: argparse.Namespace) -> None:
    from backend.index.release import IndexSettings, index_release_sae, release_index

    release = _release(args)
    settings = from_flags(IndexSettings, args)
    ray_only = {
        "--workers": args.workers,
        "--shard-contexts": args.shard_contexts,
        "--checkpoint-minutes": args.checkpoint_minutes,
    }
    given = [flag for flag, value in ray_only.items() if value is not None]
    if args.ray is None and given:
        raise AtlasError(f"{', '.join(given)} only go with --ray; add --ray or leave them out.")
    if args.ray is None:
        folder = index_release_sae(release, args.sae, settings)
    else:
        from backend.cluster.index_shards import index_on_ray
        from backend.cluster.runtime import RayConfig, import_ray
        from backend.core.progress import TqdmReporter, step_progress

        import_ray()  # before the model loads: a missing extra is said at once
        config = RayConfig(
            args.ray,
            args.workers,
            args.shard_contexts or RayConfig.shard_contexts,
            checkpoint_seconds=RayConfig.checkpoint_seconds
            if args.checkpoint_minutes is None
            else 60 * args.checkpoint_minutes,
        )
        progress = step_progress(TqdmReporter(unit="shard"), f"index {release.id}/{args.sae} on Ray")
        artifact = release_index(release, args.sae, settings)
        folder = artifact.folder if artifact.is_current() else index_on_ray(artifact.plan, config, progress)
    print(f"{_indexed(folder)} into {folder}")


def _indexed(folder: Path) -> str:
    """What an index holds, as the index and add commands say it."""
    from backend.index.store import IndexReader

    meta = IndexReader.open(folder).meta
    return f"indexed {meta['n_contexts']:,} contexts ({meta['n_tokens']:,} tokens counted)"


def train_meta(args: argparse.Namespace) -> None:
    from backend.core.progress import TqdmReporter, step_progress
    from backend.training.meta import MetaTrainConfig, train_meta_for

    release = _release(args)
    progress = step_progress(TqdmReporter(), f"train meta-SAE on {release.id}/{args.sae}")
    cfg = from_flags(MetaTrainConfig, args)
    print(f"registered {train_meta_for(release, args.sae, cfg, progress)}")


def stitch(args: argparse.Namespace) -> None:
    from backend.core.config import default_device
    from backend.core.progress import TqdmReporter
    from backend.models.language import load_language_model
    from backend.stitching.curves import CurveConfig
    from backend.stitching.family import Curves

    release = _release(args)
    settings = CurveConfig(threshold=args.threshold, order=args.order, loss_points=args.loss_points)
    lm = load_language_model(release.model, default_device())
    curves = Curves(release, settings, lm=lambda: lm).get(TqdmReporter())
    print(curves[curves["kind"] == "sae"].to_string(index=False))


def lenses(args: argparse.Namespace) -> None:
    from backend.core.progress import TqdmReporter
    from backend.lenses.compare import said
    from backend.pipeline.artifacts import families_meta, families_table, release_lenses
    from backend.pipeline.build import build_release, read_summary
    from backend.sources.catalog import families_of

    release = _release(args)
    if release.built:  # the lenses are part of a built release's plan, at the profile it was built with
        build_release(release, read_summary(release).get("profile", "default"))
    else:
        report = TqdmReporter()
        for artifact in release_lenses(release):
            if not artifact.is_current():
                artifact.compute(report)
    table = families_table(release)
    print(table.to_string(index=False))
    families = families_of(release)
    if families:
        unfinished = [f.family_name for f in families if not read_summary(f).get("complete")]
        print(f"\nStill being built: {', '.join(unfinished)}." if unfinished else "")
        metas = families_meta(release)
        print(metas.to_string(index=False))
        for heading, sentences in said(families, table, metas):
            print(f"\n{heading}:\n" + "\n".join(f"- {sentence}" for sentence in sentences))


def _steering_direction(args: argparse.Namespace, release: "Release") -> "Direction":
    """The direction of `--latent` (or `--meta`), scaled by maxima from the SAE's index."""
    import torch

    from backend.explore.directions import MetaTarget, direction_for
    from backend.index.artifact import LatentIndex
    from backend.metasae.decompose import build_decompositions
    from backend.models.loading import load_meta_sae, load_sae

    max_acts = torch.tensor(
        LatentIndex.served(release, args.sae).reader().table(["max"])["max"].to_numpy(dtype="float32")
    )
    sae = load_sae(release, args.sae).sae
    if args.meta is None:
        return direction_for(sae, max_acts, args.latent)
    entry = release.primary_meta(args.sae)
    if entry is None:
        raise AtlasError(f"SAE {args.sae} of {release.id} has no meta-SAE; steer with --latent instead.")
    meta = load_meta_sae(release, entry.id, sae)
    return direction_for(sae, max_acts, MetaTarget(meta, build_decompositions(meta, sae), args.meta))


def steer(args: argparse.Namespace) -> None:
    from backend.core.config import default_device
    from backend.models.language import load_language_model
    from backend.steering.generate import SteerConfig, steered_generation

    release = _release(args)
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


def add(args: argparse.Namespace) -> None:
    from backend.index.artifact import LatentIndex
    from backend.pipeline.add import AddRequest, add_release
    from backend.sources.release import CorpusSpec

    if args.corpus == "wordnet":
        corpus = CorpusSpec("wordnet")
    elif args.corpus.startswith("hub:"):
        corpus = CorpusSpec("hub", repo=args.corpus.removeprefix("hub:"), column=args.column)
    else:
        corpus = CorpusSpec("local", path=str(Path(args.corpus).expanduser().resolve()), column=args.column)
    request = from_flags(
        AddRequest, args, release_id=args.id, sources=tuple(args.sae), corpus=corpus, d_meta=args.meta_sae,
        title=args.title or "",
    )  # fmt: skip
    release = add_release(request)
    for sae_id in release.sae_ids:
        print(f"SAE {sae_id}: {_indexed(LatentIndex.served(release, sae_id).folder)}")
    print(f"added {release.id} (SAEs {', '.join(release.sae_ids)}); open it with:")
    print(f"  scripts/run.sh, then /latent?release={release.id}&sae={release.sae_ids[-1]}&latent=0")


def export(args: argparse.Namespace) -> None:
    from backend.explore import exports
    from backend.index.artifact import LatentIndex
    from backend.index.cards import CardReader
    from backend.lenses.profile import latent_profiles
    from backend.metasae.decompose import build_decompositions
    from backend.models.loading import load_meta_sae, load_sae
    from backend.pipeline.artifacts import release_lenses
    from backend.stitching.family import pair_classification

    release = _release(args)
    if args.what == "families":
        from backend.pipeline.artifacts import families_table

        _write(exports.table_bytes(families_table(release), args.format), args.out)
        return
    if args.sae is None:
        raise AtlasError(f"Exporting {args.what} needs --sae.")
    if args.what == "card":
        if args.latent is None:
            raise AtlasError("Exporting a card needs --latent.")
        card = CardReader(LatentIndex.served(release, args.sae).reader()).card(args.latent)
        profile = latent_profiles(release, args.sae, release_lenses(release)).iloc[args.latent].to_dict()
        _write(exports.card_json(card, release.id, args.sae, profile).encode(), args.out)
        return
    if args.what == "latents":
        frame = LatentIndex.served(release, args.sae).reader().table()
    elif args.what == "canonicality":
        frame = latent_profiles(release, args.sae, release_lenses(release))
    elif args.what == "decompositions":
        entry = release.primary_meta(args.sae)
        if entry is None:
            raise AtlasError(f"SAE {args.sae} of {release.id} has no meta-SAE to export decompositions of.")
        sae = load_sae(release, args.sae).sae
        frame = exports.decomposition_table(build_decompositions(load_meta_sae(release, entry.id, sae), sae))
    else:
        small = release.neighbours(args.sae)[0]
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
        return
    if out.is_dir():
        raise AtlasError(f"--out {out} is a folder; give a file name inside it.")
    if not out.parent.is_dir():
        raise AtlasError(f"--out {out}: the folder {out.parent} does not exist; create it first.")
    try:
        out.write_bytes(data)
    except OSError as err:
        raise AtlasError(f"Cannot write --out {out}: {err.strerror}.") from err
    print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)


def publish(args: argparse.Namespace) -> None:
    from backend.pipeline.publish import CATALOG, publish_folder, upload

    release = _release(args)
    out = publish_folder(release, args.out, args.repo, args.revision)
    print(f"wrote {out}; serve it with ATLAS_CATALOG={out / CATALOG} once it is on the Hub as {args.repo}")
    if args.upload:
        print(f"uploaded: {upload(out, args.repo)}")
