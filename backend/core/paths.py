"""Where this machine keeps what it builds or computes for a release: the one owner of that layout.

<data dir>/uploads/<release id>/     SAE folders and corpora uploaded through the app's add form
<data dir>/releases/<release id>/
    corpus.npy  split.json             the data (a family built from another's data reads that one's: `data_root`)
    build.json  build-progress.json  build.lock  build.log
    <sae path>/ and <meta-SAE path>/   SAEs and meta-SAEs built here (SAELens / paper layouts)
    index/<sae id>/                     the latent index behind the cards
    stitching/  maps/  polysemy/        cached analyses, each keyed on the files it came from
    lenses/                             the canonical-units lenses: seeds, co-firing, absorption, facets
    work/                               activations, held-out activations, training checkpoints
"""

from dataclasses import dataclass
from pathlib import Path

from backend.core.config import data_dir

RELEASES = "releases"
MODELS = "models"
"""The data directory's folder of converted embedded models (models/embedded.py)."""
DERIVED_FOLDERS = (RELEASES, MODELS)
"""Folders of the data directory that hold what this machine derived (never a visitor's corpus)."""


def uploads(release_id: str) -> Path:
    """Where the add form keeps the files a visitor uploaded for `release_id`."""
    return data_dir() / "uploads" / release_id


@dataclass(frozen=True)
class ReleasePaths:
    root: Path
    data_root: Path | None = None
    """Where the corpus, its activations and the split live when they are another release's (a second family trained
    from the same activations); None: `root`."""

    @classmethod
    def of(cls, release_id: str, data_of: str | None = None) -> "ReleasePaths":
        return cls(data_dir() / RELEASES / release_id, data_dir() / RELEASES / data_of if data_of else None)

    @property
    def _data(self) -> Path:
        return self.data_root or self.root

    @property
    def corpus(self) -> Path:
        """The built release's token contexts, `[n_contexts, context_size]` int32."""
        return self._data / "corpus.npy"

    @property
    def split(self) -> Path:
        """Which contexts of `corpus` trained and which are held out (data/heldout.py)."""
        return self._data / "split.json"

    @property
    def summary(self) -> Path:
        return self.root / "build.json"

    @property
    def progress(self) -> Path:
        return self.root / "build-progress.json"

    @property
    def lock(self) -> Path:
        return self.root / "build.lock"

    @property
    def log(self) -> Path:
        return self.root / "build.log"

    @property
    def activations(self) -> Path:
        return self._data / "work" / "activations"

    def heldout_activations(self, n_contexts: int) -> Path:
        return self._data / "work" / f"heldout-{n_contexts}"

    def checkpoint(self, name: str) -> Path:
        """Training checkpoint of an SAE or meta-SAE."""
        return self.root / "work" / f"train-{name}.pt"

    def folder(self, relative: str) -> Path:
        """A built SAE's or meta-SAE's folder."""
        return self.root / relative

    def index(self, sae_id: str) -> Path:
        return self.root / "index" / sae_id

    @property
    def corpus_record(self) -> Path:
        """What `corpus` was made from (its artifact's key)."""
        return self._data / "corpus.json"

    def matching(self, small_id: str, large_id: str) -> Path:
        """The stitching matching of a neighbouring pair of SAEs."""
        return self.root / "stitching" / f"match-{small_id}-{large_id}.safetensors"

    def curves(self, slug: str) -> Path:
        """The family's stitching curves for one setting (`CurveConfig.slug`)."""
        return self.root / "stitching" / f"curves-{slug}.parquet"

    def latent_map(self, sae_id: str) -> Path:
        return self.root / "maps" / f"{sae_id}.parquet"

    @property
    def polysemy_folder(self) -> Path:
        return self.root / "polysemy"

    def polysemy(self, set_id: str, mode: str, sae_id: str) -> Path:
        return self.polysemy_folder / f"{set_id}-{mode}-{sae_id}.parquet"

    def lens(self, name: str) -> Path:
        """One lens file of the canonical-units lenses (backend/lenses/), e.g. `seeds-9216.safetensors`."""
        return self.root / "lenses" / name
