"""The pages' cached reads for polysemy probes: probe sets (named or uploaded), stored benchmark predictions, and one
word read in several contexts by every SAE of the family."""

import pandas as pd

from backend.polysemy.bench import cached_predictions
from backend.polysemy.probe import Mode, WordProbe, probe_word
from backend.polysemy.probe_sets import hub_probe_set, parse_probe_csv, wordnet_probe_set
from pages.access.keyed import cached
from pages.access.saes import language_model, sae
from pages.access.stamps import release


@cached(max_entries=4, spinner="Loading the probe set…")
def probe_pairs(source: str) -> pd.DataFrame:
    """A named probe set: "wordnet" (built offline) or "ps-eval" (from the Hub)."""
    return wordnet_probe_set() if source == "wordnet" else hub_probe_set()


@cached(max_entries=4, spinner="Reading the uploaded pairs…")
def uploaded_pairs(data: bytes) -> pd.DataFrame:
    """An uploaded probe CSV, parsed and checked once per distinct file (not on every rerun)."""
    return parse_probe_csv(data)


def stored_predictions(release_id: str, probe: pd.DataFrame, mode: Mode) -> dict[str, pd.DataFrame]:
    entry = release(release_id)
    return cached_predictions(entry, probe, mode, entry.sae_ids)


@cached(max_entries=32, spinner="Reading the word with every SAE…")
def word_probe(release_id: str, word: str, contexts: tuple[str, ...], mode: Mode) -> dict[str, WordProbe]:
    entry = release(release_id)
    saes = {sae_id: sae(release_id, sae_id) for sae_id in entry.sae_ids}
    return probe_word(language_model(entry.model), entry, saes, word, list(contexts), mode)
