"""Matryoshka BatchTopK (Bussmann, Nabeshima, Karvonen & Nanda 2025): trained as BatchTopK with nested prefixes that
each reconstruct (backend/training/objectives/matryoshka.py); at inference one threshold, so SAELens saves it as a
JumpReLU SAE. The prefix sizes travel in `cfg.json` as `matryoshka_widths` (SAELens's field), the trained `k` as
`trained_as`."""

from typing import Any

from backend.models.architectures.batchtopk import BatchTopK


class MatryoshkaBatchTopK(BatchTopK):
    name = "matryoshka_batchtopk"
    summary = "nested prefixes that each reconstruct; k per token on average, one threshold at inference"

    def config_fields(self, k: int | None) -> dict[str, Any]:
        return {"trained_as": {"architecture": self.name, "k": k}}


ARCHITECTURE = MatryoshkaBatchTopK()
