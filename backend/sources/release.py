"""What the catalog describes: a release (one SAE family and where its files come from) and its SAE, meta-SAE and
second-seed entries, as `backend/sources/catalog.py` parses them from the catalog files. Frozen values: a release is
read, never changed."""

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from backend.core.errors import CatalogError
from backend.core.paths import ReleasePaths
from backend.sources.hub import Location, fetch_snapshot

Convention = Literal["hf", "transformer_lens"]


@dataclass(frozen=True)
class SAEEntry:
    id: str
    location: Location
    layout: Literal["saelens", "paper-meta"] = "saelens"
    d_sae: int | None = None
    """Size, for SAEs this machine builds (Hub releases read it from cfg.json)."""
    k: int | None = None
    neuronpedia_id: str | None = None
    prefix: int | None = None
    """The SAE is the first `prefix` latents of the SAE at `location` (one level of a Matryoshka SAE: latent i is the
    same latent at every width); None: all of them."""


@dataclass(frozen=True)
class MetaEntry(SAEEntry):
    over: str = ""
    """Id of the SAE whose decoder rows this meta-SAE decomposes."""
    threshold: float | None = None
    """Inference threshold; None = read from the files."""


@dataclass(frozen=True)
class SeedEntry(SAEEntry):
    """A second SAE trained like a family member but from another seed: what uniqueness across seeds is
    measured against (backend/lenses/seeds.py). Not a member of the family: no index, no stitching."""

    of: str = ""
    """Id of the family SAE it is the second seed of."""


CorpusKind = Literal["wordnet", "hub", "local"]
CORPUS_SUFFIXES = (".txt", ".jsonl", ".parquet")
"""The local corpus files read: plain text lines, JSON lines, Parquet."""


@dataclass(frozen=True)
class CorpusSpec:
    kind: CorpusKind
    repo: str = ""
    patterns: tuple[str, ...] = ("*.parquet",)
    column: str = "text"
    """The text column of Parquet and JSON-lines files (plain text files have none)."""
    revision: str | None = None
    path: str = ""
    """For `local`: a `.txt`, `.jsonl` or `.parquet` file, or a folder of them."""

    def key(self) -> dict[str, Any]:
        """The fields that name this corpus, empty ones left out: part of every key derived from the corpus,
        stable when a field with an empty default is added."""
        return {name: value for name, value in asdict(self).items() if value not in ("", None)}


@dataclass(frozen=True)
class Release:
    id: str
    title: str
    model: str
    """`embedded:<name>`, `local:<path>` or a Hub model id such as `gpt2`."""
    hook: str
    convention: Convention
    context_size: int
    corpus: CorpusSpec
    saes: tuple[SAEEntry, ...]
    meta_saes: tuple[MetaEntry, ...] = ()
    second_seeds: tuple[SeedEntry, ...] = ()
    description: str = ""
    built: bool = False
    """True when `python -m backend build` makes it on this machine."""
    default: bool = False
    outlier_norm_multiple: float | None = None
    """Tokens whose activation norm exceeds this multiple of the median are left out of training,
    evaluation and the index (massive-activation tokens); None keeps every token."""
    training: dict[str, Any] = field(default_factory=dict)
    """How a built release trains its SAEs, flat (`backend.training.trainer.TrainConfig.from_table`): `objective`
    (l1, batchtopk, gba; `backend.training.objectives`), its settings as `<objective>_<setting>`, and the shared ones
    (lr, aux_k, ...), for every size; each SAE's `d_sae` and `k` come from its own entry."""
    published: Location | None = None
    """A Hub repo written by `python -m backend publish`: the release's derived artifacts (and built SAEs) are
    read from it through the Hub cache instead of being computed here."""
    data_of: str | None = None
    """A second family trained from another built release's data: its model, hook, corpus and activations are
    that release's (`DATA_FIELDS`, read from its table), and its build follows that one's."""
    family: str = ""
    """What its family is called beside another trained from the same data ("standard ReLU + L1", "Matryoshka");
    empty: its id (`family_name`)."""
    on_request: bool = False
    """Built only when its build is asked for by name (`build --release <id>`): not after the release whose data it
    reads, and compared with the other families only once its build has started (`catalog.requested`)."""
    control: str = ""
    """Id of the family trained from the same data that differs from this one in one way only (a Matryoshka
    family's: BatchTopK SAEs of the same sizes and k, trained apart): the Canonical units? page compares the two
    directly, as the paper that introduced this family did; empty: none."""
    siblings: tuple[str, ...] = ()
    """The other built families trained from the same data, in catalog order: what the Canonical units? page
    compares this family with (set by `load_catalog`)."""

    @property
    def family_name(self) -> str:
        return self.family or self.id

    def sae(self, sae_id: str) -> SAEEntry:
        """A family SAE or a second seed of one."""
        for entry in (*self.saes, *self.second_seeds):
            if entry.id == sae_id:
                return entry
        raise CatalogError(f"Release {self.id!r} has no SAE {sae_id!r}; it has {', '.join(self.sae_ids)}.")

    def family_sae(self, sae_id: str) -> SAEEntry:
        """A family SAE, the only kind that is indexed, decomposed or exported: a second seed is read by the seed
        lens alone (CatalogError naming its family SAE)."""
        twin = next((entry for entry in self.second_seeds if entry.id == sae_id), None)
        if twin is not None:
            raise CatalogError(
                f"{sae_id} is the second seed of SAE {twin.of} of {self.id!r}, read only by the seed lens; "
                f"name a family SAE ({', '.join(self.sae_ids)})."
            )
        return self.sae(sae_id)

    @property
    def sae_ids(self) -> list[str]:
        return [entry.id for entry in self.saes]

    def _same_weights(self, entry: SAEEntry) -> list[SAEEntry]:
        """The entries (of the family, or of the second seeds) that are prefixes of `entry`'s weights."""
        if entry.prefix is None:
            return [entry]
        pool = self.second_seeds if isinstance(entry, SeedEntry) else self.saes
        return [other for other in pool if other.prefix is not None and other.location == entry.location]

    def widest(self, sae_id: str) -> SAEEntry:
        """The entry that reads the most of `sae_id`'s weights: the one its weights are trained and indexed as
        (itself unless it is a prefix of a Matryoshka SAE listed at several widths)."""
        return max(self._same_weights(self.sae(sae_id)), key=lambda e: e.prefix or 0)

    def widths(self, sae_id: str) -> tuple[int, ...] | None:
        """The prefix widths listed of `sae_id`'s weights, increasing (None when it is not a prefix)."""
        entry = self.sae(sae_id)
        return tuple(sorted(e.prefix or 0 for e in self._same_weights(entry))) if entry.prefix else None

    def second_seed(self, sae_id: str) -> SeedEntry | None:
        """The second seed of family SAE `sae_id` (None when the release has none)."""
        return next((entry for entry in self.second_seeds if entry.of == sae_id), None)

    def meta_for(self, sae_id: str) -> list[MetaEntry]:
        return [meta for meta in self.meta_saes if meta.over == sae_id]

    def primary_meta(self, sae_id: str) -> MetaEntry | None:
        """The meta-SAE the app and the CLI decompose `sae_id` with: the first one listed for it."""
        metas = self.meta_for(sae_id)
        return metas[0] if metas else None

    @property
    def nested(self) -> bool:
        """The family is the nested prefixes of one SAE (a Matryoshka SAE): every SAE a prefix of the same weights."""
        return len(self.saes) > 1 and all(e.prefix and e.location == self.saes[0].location for e in self.saes)

    @property
    def neighbour_pairs(self) -> list[tuple[str, str]]:
        """Each SAE with the next larger one, in catalog order (smallest first)."""
        return list(pairwise(self.sae_ids))

    def neighbours(self, sae_id: str) -> tuple[str | None, str | None]:
        """The next smaller and the next larger SAE of the family (catalog order is size order)."""
        ids = self.sae_ids
        at = ids.index(sae_id)
        return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)

    def meta(self, meta_id: str) -> MetaEntry:
        for entry in self.meta_saes:
            if entry.id == meta_id:
                return entry
        raise CatalogError(f"Release {self.id!r} has no meta-SAE {meta_id!r}.")

    @property
    def paths(self) -> ReleasePaths:
        """Where this machine keeps what it builds or indexes for the release; for a published release, its
        snapshot in the Hub cache, read only from the cache (`download_published` fetches it)."""
        if self.published is not None:
            return ReleasePaths(published_snapshot(self.published))
        return ReleasePaths.of(self.id, self.data_of)


@lru_cache(maxsize=16)
def published_snapshot(location: Location) -> Path:
    """The local snapshot of a published release in the Hub cache (SourceUnavailable when it is not there)."""
    return fetch_snapshot(location, ["*"], cached_only=True)
