"""Is this latent a canonical unit? Every lens joined on one latent (`latent_profiles`) and per size
(`family_lenses`), from the stored artifacts; a lens that is not there gives empty columns and a reason
(`missing_lenses`), never an error.

Columns of `latent_profiles` (one row per latent of one SAE):
- novel: no partner at the stitching threshold in the next smaller SAE (None for the smallest);
  kept: a partner in the next larger SAE (None for the largest);
- seed_partner, seed_cosine (decoder), seed_encoder_cosine, seed_shared: its partner in the second seed;
- meta_cosine, meta_parts: atomicity, its meta-SAE's reconstruction (SAEs with a meta-SAE);
- absorption: "main latent of 'l'" or "absorbs 'l' (n words)";
- split: the verdict on its split into the next larger SAE ("partition", "hole", "overlap"; empty when it does
  not split), split_coverage; parent_given_child: the highest P(parent | it) over its edges from the smaller SAE;
- facets, top_facet_share, top_facet: how many kinds of context it fires in.
"""

from collections.abc import Iterable
from typing import TypeGuard

import numpy as np
import pandas as pd

from backend.core.artifacts import Artifact
from backend.core.errors import AtlasError
from backend.lenses.absorption import measurable
from backend.lenses.family import Absorption, CoFiring, Facets, SeedMatch
from backend.metasae.atomicity import atomicity
from backend.metasae.decompose import build_decompositions
from backend.models.formats import is_dead
from backend.models.loading import load_meta_sae, load_sae
from backend.sources.catalog import Release
from backend.stitching.family import pair_classification
from backend.stitching.matching import DEFAULT_THRESHOLD

LENSES = {
    "stitching": "Novel or reconstruction: the pair matchings of neighbouring sizes (built with the family).",
    "seeds": "Uniqueness across seeds: needs a second seed of the SAE (`second_seeds` in the catalog).",
    "atomicity": "Atomicity: needs a meta-SAE over the SAE (`meta_saes` in the catalog).",
    "absorption": "First-letter absorption: needs word tokens the probe knows (a tokenizer with whole words).",
    "splits": "Clean splits: co-firing on the lineage edges, over held-out tokens.",
    "facets": "Facets: the index's examples clustered by context.",
}


def _find(lenses: Iterable[Artifact], kind: type, **match: str) -> Artifact | None:
    return next((a for a in lenses if isinstance(a, kind) and all(getattr(a, k) == v for k, v in match.items())), None)


def _read(lenses: Iterable[Artifact], kind: type, **match: str) -> object:
    found = _find(lenses, kind, **match)
    try:
        return found.read() if found is not None else None
    except AtlasError:  # an input it is keyed on is still being built
        return None


def latent_profiles(release: Release, sae_id: str, lenses: list[Artifact]) -> pd.DataFrame:
    """One row per latent of `sae_id`: every lens that exists for it (see the module docstring)."""
    d_sae = load_sae(release, sae_id).sae.cfg.d_sae
    frame = pd.DataFrame({"latent": np.arange(d_sae)})
    smaller, larger = release.neighbours(sae_id)
    frame["novel"], frame["kept"] = None, None
    if smaller and (found := pair_classification(release, smaller, sae_id, DEFAULT_THRESHOLD)):
        novel = np.zeros(d_sae, dtype=bool)
        novel[found.novel.numpy()] = True
        frame["novel"] = novel
    if larger and (found := pair_classification(release, sae_id, larger, DEFAULT_THRESHOLD)):
        frame["kept"] = found.small_cos.numpy() >= DEFAULT_THRESHOLD
    _seeds(frame, _read(lenses, SeedMatch, sae_id=sae_id))
    _atomicity(frame, release, sae_id)
    _absorption(frame, _read(lenses, Absorption, sae_id=sae_id))
    _splits(frame, _read(lenses, CoFiring, small_id=sae_id), _read(lenses, CoFiring, large_id=sae_id))
    _facets(frame, _read(lenses, Facets, sae_id=sae_id))
    loaded = load_sae(release, sae_id)
    frame["dead"] = is_dead(loaded.log10_density).numpy() if loaded.log10_density is not None else False
    return frame


def _seeds(frame: pd.DataFrame, found: object) -> None:
    for column in ("seed_partner", "seed_cosine", "seed_encoder_cosine", "seed_shared"):
        frame[column] = None
    if found is not None:
        frame["seed_partner"] = found.partner.numpy()  # type: ignore[attr-defined]
        frame["seed_cosine"] = found.decoder_cos.numpy()  # type: ignore[attr-defined]
        frame["seed_encoder_cosine"] = found.encoder_cos.numpy()  # type: ignore[attr-defined]
        frame["seed_shared"] = found.shared().numpy()  # type: ignore[attr-defined]


def _atomicity(frame: pd.DataFrame, release: Release, sae_id: str) -> None:
    frame["meta_cosine"], frame["meta_parts"] = None, None
    meta = release.primary_meta(sae_id)
    if meta is None:
        return
    try:
        sae = load_sae(release, sae_id).sae
        meta_sae = load_meta_sae(release, meta.id, sae)
    except AtlasError:  # a meta-SAE still being trained is a missing lens, not an error
        return
    table = atomicity(build_decompositions(meta_sae, sae), meta_sae, sae)
    frame["meta_cosine"], frame["meta_parts"] = table["meta cosine"].to_numpy(), table["meta parts"].to_numpy()


def _absorption(frame: pd.DataFrame, table: object) -> None:
    frame["absorption"] = ""
    if not isinstance(table, pd.DataFrame):
        return
    roles: dict[int, list[str]] = {}
    for _, row in table[table.apply(measurable, axis=1)].iterrows():
        for latent in row["main_latents"]:
            roles.setdefault(int(latent), []).append(f"main latent of '{row['letter']}'")
        for latent, count in zip(row["absorbers"], row["absorber_tokens"], strict=True):
            roles.setdefault(int(latent), []).append(f"absorbs '{row['letter']}' ({count} words)")
    frame["absorption"] = frame["latent"].map(lambda latent: "; ".join(roles.get(latent, [])))


def _splits(frame: pd.DataFrame, down: object, up: object) -> None:
    frame["split"], frame["split_coverage"], frame["parent_given_child"] = "", np.nan, np.nan
    if isinstance(down, pd.DataFrame) and "verdict" in down:
        parents = down.dropna(subset=["verdict"]).drop_duplicates("parent").set_index("parent")
        frame["split"] = frame["latent"].map(parents["verdict"]).fillna("")
        frame["split_coverage"] = frame["latent"].map(parents["coverage"])
    if isinstance(up, pd.DataFrame):
        strong = up[up["cosine"] >= DEFAULT_THRESHOLD].groupby("child")["p_parent_given_child"].max()
        frame["parent_given_child"] = frame["latent"].map(strong)


def _facets(frame: pd.DataFrame, table: object) -> None:
    frame["facets"], frame["top_facet_share"], frame["top_facet"] = np.nan, np.nan, ""
    if isinstance(table, pd.DataFrame) and len(table):
        counts = table.groupby("latent").size()
        top = table[table["facet"] == 0].set_index("latent")
        frame["facets"] = frame["latent"].map(counts)
        frame["top_facet_share"] = frame["latent"].map(top["share"])
        frame["top_facet"] = frame["latent"].map(top["label"]).fillna("")


def absorption_letters(lenses: list[Artifact], sae_id: str) -> pd.DataFrame | None:
    """The SAE's stored first-letter absorption table (one row per letter); None before it is computed."""
    found = _read(lenses, Absorption, sae_id=sae_id)
    return found if isinstance(found, pd.DataFrame) else None


def facet_rows(lenses: list[Artifact], sae_id: str) -> pd.DataFrame | None:
    """The SAE's stored facets (latent, facet, share, label, examples); None before they are computed."""
    found = _read(lenses, Facets, sae_id=sae_id)
    return found if isinstance(found, pd.DataFrame) else None


def missing_lenses(release: Release, sae_id: str, lenses: list[Artifact]) -> dict[str, str]:
    """The lenses that do not exist (yet) for `sae_id`, each with why and how to get it."""
    missing = {}
    if release.second_seed(sae_id) is None:
        missing["seeds"] = LENSES["seeds"]
    elif _read(lenses, SeedMatch, sae_id=sae_id) is None:
        missing["seeds"] = "Uniqueness across seeds: the second seed is still being trained or aligned."
    if release.primary_meta(sae_id) is None:
        missing["atomicity"] = LENSES["atomicity"]
    for name, kind, match in (
        ("absorption", Absorption, {"sae_id": sae_id}),
        ("facets", Facets, {"sae_id": sae_id}),
    ):
        stored = _read(lenses, kind, **match)
        if _find(lenses, kind, **match) is None:
            missing[name] = LENSES[name]
        elif stored is None:
            missing[name] = f"{LENSES[name].split(':')[0]}: not computed yet (the build, or `sae-atlas lenses`)."
        elif isinstance(stored, pd.DataFrame) and stored.empty:
            missing[name] = f"{LENSES[name]} This release's corpus has too few of them."
    return missing


def family_lenses(release: Release, lenses: list[Artifact]) -> pd.DataFrame:
    """One row per SAE: each lens's family figure (NaN where the lens is missing)."""
    rows = []
    for sae_id in release.sae_ids:
        smaller, _ = release.neighbours(sae_id)
        try:
            loaded = load_sae(release, sae_id)
        except AtlasError:  # still being built: its row comes when it is
            continue
        row: dict[str, object] = {"sae": sae_id, "latents": loaded.sae.cfg.d_sae}
        found = pair_classification(release, smaller, sae_id, DEFAULT_THRESHOLD) if smaller else None
        live = (found.n_large - len(found.dead_large)) if found else 0
        row["novel_fraction"] = len(found.novel) / live if found and live else np.nan
        seeds = _read(lenses, SeedMatch, sae_id=sae_id)
        alive = ~is_dead(loaded.log10_density) if loaded.log10_density is not None else None
        row["shared_across_seeds"] = seeds.shared_fraction(alive) if seeds is not None else np.nan  # type: ignore[attr-defined]
        row.update(_absorption_row(_read(lenses, Absorption, sae_id=sae_id)))
        splits = _read(lenses, CoFiring, small_id=sae_id)
        verdicts = splits.dropna(subset=["verdict"]).drop_duplicates("parent") if _rows(splits) else None
        row["partition_share"] = _share(verdicts, "partition")
        table = _read(lenses, Facets, sae_id=sae_id)
        row["facets_per_latent"] = float(table.groupby("latent").size().mean()) if _rows(table) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _rows(table: object) -> TypeGuard[pd.DataFrame]:
    return isinstance(table, pd.DataFrame) and len(table) > 0


def _share(verdicts: pd.DataFrame | None, verdict: str) -> float:
    return float((verdicts["verdict"] == verdict).mean()) if _rows(verdicts) else np.nan


def _absorption_row(table: object) -> dict[str, float]:
    names = ("absorption_fraction", "full_absorption", "baseline_absorption_fraction", "baseline_full_absorption",
             "main_f1", "main_recall")  # fmt: skip
    if not isinstance(table, pd.DataFrame):
        return {name: np.nan for name in names}
    shown = table[table.apply(measurable, axis=1)]
    return {name: float(shown[name].mean()) if len(shown) else np.nan for name in names}


def family_findings(family: pd.DataFrame) -> list[str]:
    """One sentence per lens on what `family_lenses` shows against size, with its figures (and the published one
    where there is one), for the page to state plainly."""
    said = []

    def trend(column: str) -> tuple[pd.Series, str] | None:
        shown = family.dropna(subset=[column])
        if len(shown) < 2:
            return None
        first, last = shown.iloc[0], shown.iloc[-1]
        word = "rises" if last[column] > first[column] else "falls"
        return last, f"{word} from {first[column]:.0%} at SAE-{first['sae']} to {last[column]:.0%} at SAE-{last['sae']}"

    if found := trend("shared_across_seeds"):
        said.append(
            f"Shared across seeds {found[1]}; Paulo & Belrose report about 30% at 131k latents on Llama 3 8B, and more "
            "for narrower SAEs and for ReLU + L1 ones like these."
        )
    if found := trend("absorption_fraction"):
        last = found[0]
        ratio = last["absorption_fraction"] / max(last["baseline_absorption_fraction"], 1e-9)
        said.append(
            f"The absorption fraction {found[1]} ({ratio:.0f}x its random-direction baseline at the largest), while the "
            f"main letter latents' recall is {last['main_recall']:.0%} there."
        )
    shares = family["partition_share"].dropna()
    if len(shares):
        said.append(
            f"{shares.min():.0%} to {shares.max():.0%} of splits partition their parent; the others leave holes or "
            "overlap (the verdicts are in the latent table)."
        )
    if found := trend("facets_per_latent"):
        first, last = family.dropna(subset=["facets_per_latent"]).iloc[[0, -1]]["facets_per_latent"]
        said.append(f"Facets per latent go from {first:.2f} to {last:.2f} with size.")
    return said
