"""How much data and training a build spends: named profiles (`tiny` runs end to end in seconds, for tests)."""

from dataclasses import dataclass

from backend.core.errors import AtlasError
from backend.training.meta import MetaTrainConfig


@dataclass(frozen=True)
class BuildConfig:
    """How much data and training a build spends. `tiny` runs end to end in seconds for tests."""

    n_contexts: int
    """Corpus contexts whose activations are computed (training + held-out)."""
    eval_contexts: int
    """The last contexts, held out for FVU, L0, dead latents and coherence."""
    index_contexts: int
    """The last contexts, indexed for the cards (they include the held-out ones)."""
    epochs: float
    batch_size: int = 1024
    meta_epochs: float = MetaTrainConfig.epochs
    meta_lr: float = MetaTrainConfig.lr
    meta_batch: int = MetaTrainConfig.batch_size
    """The meta-SAE's training, the trainer's defaults unless a profile spends less."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.eval_contexts < self.n_contexts or not 0 < self.index_contexts <= self.n_contexts:
            raise AtlasError(
                f"A profile of {self.n_contexts} contexts cannot hold out {self.eval_contexts} and index "
                f"{self.index_contexts}: it needs 0 < held out < contexts and 0 < indexed <= contexts."
            )


PROFILES = {
    # 2,000 contexts (256k tokens) to block 16 fit the build in its time budget on a 2-core CPU without bf16; three
    # epochs over them bring the novel fractions into the paper's range (benchmarks/bench_hook_sweep.py, BENCHMARKS.md).
    "default": BuildConfig(n_contexts=2000, eval_contexts=240, index_contexts=2000, epochs=3.0),
    "tiny": BuildConfig(
        n_contexts=40, eval_contexts=8, index_contexts=16, epochs=3.0, batch_size=256, meta_epochs=30, meta_batch=64
    ),
}
