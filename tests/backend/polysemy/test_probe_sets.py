"""Probe sets: the WordNet builder on a fixture of real lines, CSV checking, the Hub set through real Hub code."""

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from backend.core.errors import SourceUnavailable
from backend.data.wordnet import parse_synset
from backend.polysemy.probe_sets import (
    COLUMNS,
    ProbeSetError,
    _probed,
    _Synset,
    distinct_senses,
    hub_probe_set,
    parse_probe_csv,
    wordnet_probe_set,
)
from tests.backend.sources.test_hub import populate_cache

FIXTURE = Path(__file__).parents[2] / "fixtures" / "wordnet"


def test_wordnet_pairs_are_deterministic_balanced_and_contain_the_word() -> None:
    pairs = wordnet_probe_set(max_pairs=40, folder=FIXTURE)
    assert pairs.equals(wordnet_probe_set(max_pairs=40, folder=FIXTURE))
    assert list(pairs.columns) == list(COLUMNS)
    assert len(pairs) >= 4 and pairs["same"].sum() * 2 == len(pairs)
    for row in pairs.itertuples():
        for context in (row.context1, row.context2):
            assert re.search(rf"\b{row.word}\b", context, flags=re.IGNORECASE), (row.word, context)
        assert row.context1 != row.context2
    assert {"bank", "floor"} <= set(pairs["word"])
    assert wordnet_probe_set(max_pairs=2, folder=FIXTURE).shape == (2, 4)


def test_missing_wordnet_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="apt-get install wordnet-base"):
        wordnet_probe_set(folder=tmp_path)


def test_csv_with_aliases_and_labels_is_read() -> None:
    data = b"target,sentence1,sentence2,label\nbank,the river bank,the bank loan,F\nbank,a bank loan,bank interest,1\n"
    pairs = parse_probe_csv(data)
    assert pairs["same"].tolist() == [False, True]
    assert pairs["context1"].tolist() == ["the river bank", "a bank loan"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"word,context1,context2,label\nbank,a,b,1\nbank,c,d,maybe\n", "Row 3: label 'maybe'"),
        (b"word,context1,context2,label\nbank,a,,1\n", "Row 2: context2 is empty"),
        (b"word,context1,context2,label\ntwo words,a,b,1\n", "Row 2: the word must be one"),
        (b"word,context1,label\nbank,a,1\n", "No 'context2' column"),
        (b"word,context1,context2,label\n", "no rows"),
        (b"", "Not a readable CSV"),
        (
            ("word,context1,context2,label," + ",".join(f"c{i}" for i in range(250_000))).encode()[:1_890_000],
            "The header has 2.{6} columns",
        ),
    ],
)
def test_malformed_csv_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ProbeSetError, match=message):
        parse_probe_csv(data)


def test_the_ps_eval_set_loads_from_the_hub_cache_offline(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "word": ["bank", "bank"],
            "sentence1": ["river bank", "bank loan"],
            "sentence2": ["bank loan", "bank fee"],
            "label": [0, 1],
        }
    )
    frame.to_parquet(tmp_path / "test.parquet")
    populate_cache("someone/wic", {"data/test.parquet": tmp_path / "test.parquet"}, repo_type="dataset")
    pairs = hub_probe_set("someone/wic")
    assert pairs["same"].tolist() == [False, True]
    with pytest.raises(SourceUnavailable, match="not in the local Hugging Face cache"):
        hub_probe_set("nobody/absent")


def _parse(line: str) -> _Synset | None:
    synset = parse_synset(line)
    return _probed(synset) if synset is not None else None


def _synset(line_start: str) -> _Synset:
    lines = [line for name in ("data.noun", "data.verb") for line in (FIXTURE / name).read_text().splitlines()]
    found = _parse(next(line for line in lines if line.startswith(line_start)))
    assert found is not None
    return found


def test_distinct_senses_are_one_part_of_speech_apart_in_category_and_unlinked() -> None:
    building, slope, institution = _synset("02787772"), _synset("09213565"), _synset("08420278")
    assert building.key == "n02787772" and building.category == 6
    assert distinct_senses(building, slope) and distinct_senses(slope, institution)
    same_file = replace(slope, key="n99999999")
    assert not distinct_senses(slope, same_file)
    linked = replace(institution, linked=institution.linked | {building.key})
    assert not distinct_senses(building, linked) and not distinct_senses(linked, building)
    sister = replace(slope, category=building.category + 1, hypernyms=building.hypernyms)
    assert not distinct_senses(building, sister)
    verb = replace(slope, key="v09213565")
    assert not distinct_senses(building, verb)


def test_the_wordnet_set_probes_nouns_and_verbs_only() -> None:
    adjectives = {
        word
        for line in (FIXTURE / "data.adj").read_text().splitlines()
        if (synset := _parse(line)) is not None
        for word in synset.examples
    }
    nouns_and_verbs = {
        word
        for name in ("data.noun", "data.verb")
        for line in (FIXTURE / name).read_text().splitlines()
        if (synset := _parse(line)) is not None
        for word in synset.examples
    }
    only_adjectives = adjectives - nouns_and_verbs
    assert only_adjectives
    assert not only_adjectives & set(wordnet_probe_set(max_pairs=40, folder=FIXTURE)["word"])
