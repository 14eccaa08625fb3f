"""An SAE's latent index as an artifact (backend/core/artifacts.py): a folder (a release's at `ReleasePaths.index`)
keyed on what `IndexPlan.key` names (the SAE's weights, the tokens, the settings and the index format)."""

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from backend.core.artifacts import Artifact, canonical, json_field
from backend.core.errors import StoreError
from backend.core.progress import Reporter, silent, step_progress
from backend.index.build import as_stored, build_index
from backend.index.plan import IndexPlan
from backend.index.store import DATA_FILES, META, SEAL, IndexReader, sealed_meta
from backend.sources.neuronpedia import EXPLANATIONS
from backend.sources.release import Release


class LatentIndex(Artifact[IndexReader]):
    """The index behind an SAE's cards. `key` says what it must be made from when that is known without loading
    the data (a built family's); otherwise `plan` (loaded once) says it. With neither, it is the index as
    served: whatever intact index the folder holds."""

    def __init__(
        self,
        folder: Path,
        sae_id: str,
        plan: Callable[[], IndexPlan] | None = None,
        key: Callable[[], dict[str, Any]] | None = None,
        width: int | None = None,
    ) -> None:
        self.folder, self.sae_id, self._plan, self._key, self.width = folder, sae_id, plan, key, width

    @classmethod
    def served(cls, release: Release, sae_id: str) -> "LatentIndex":
        """The index at `ReleasePaths.index` as it is (what the app reads and publish copies). A prefix of a
        Matryoshka SAE reads the index of its widest prefix, cut to its own latents."""
        widest = release.widest(sae_id)
        width = release.sae(sae_id).prefix if widest.id != sae_id else None
        return cls(release.paths.index(widest.id), sae_id, width=width)

    @property
    def name(self) -> str:
        return f"index SAE-{self.sae_id}"

    @cached_property
    def plan(self) -> IndexPlan:
        if self._plan is None:
            raise StoreError(f"The index of SAE {self.sae_id} is served as it is; nothing says how to rebuild it.")
        return self._plan()

    def files(self) -> list[Path]:
        """The index and what was imported beside it (Neuronpedia explanations); never its build's work folder."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))

    def key(self) -> str:
        if self._key is None and self._plan is None:
            return self.stored_key() or ""
        return canonical(as_stored(self._key() if self._key else self.plan.key))

    def finished(self) -> bool:
        return (self.folder / META).exists()  # written last, after the manifest of every data file

    def stored_key(self) -> str | None:
        """The key of the intact index in the folder (every data file checked against its checksum)."""
        try:
            return canonical(IndexReader.open(self.folder).meta.get("key"))
        except StoreError:
            return None

    def sealed_key(self) -> str | None:
        """The key the index in the folder was written with (its metadata's seal checked, its data files not read):
        for what is keyed on the index it was computed from. Reading the index checks its files (`reader`)."""
        try:
            return canonical(sealed_meta(self.folder).get("key"))
        except StoreError:
            return None

    def reader(self) -> IndexReader:
        """The index as stored, checked (StoreError saying how to rebuild when it is missing or damaged)."""
        return IndexReader.open(self.folder, self.width)

    def load(self) -> IndexReader | None:
        try:
            return self.reader()
        except StoreError:
            return None

    def compute(self, report: Reporter = silent) -> IndexReader:
        build_index(self.plan, step_progress(report, self.name))
        return self.reader()

    def stamp(self) -> tuple[str, str | None]:
        """Cheap enough for every rerun of a page: the seal of the index's metadata (which holds every data
        file's checksum, so a rebuilt index has a new one), and when its files (explanations imported beside it
        included) last changed, so a file altered under the seal is opened again and fails its checksum instead
        of showing changed data."""
        seal = json_field(self.folder / META, SEAL)
        paths = [self.folder / name for name in (META, EXPLANATIONS, *DATA_FILES)]
        changed = max((p.stat().st_mtime_ns for p in paths if p.exists()), default=None)
        return str(seal), str(changed) if changed is not None else None
