"""The command line on the tiny release: steering from the CLI, and its errors."""

import pytest

from backend.cli import main


def test_steer_at_strength_zero_prints_the_same_text_twice(tiny_release: str, capsys: pytest.CaptureFixture) -> None:
    args = ["steer", "--release", tiny_release, "--sae", "128", "--latent", "4", "--prompt", "A dog is"]
    assert main([*args, "--strength", "0", "--tokens", "12", "--temperature", "0"]) == 0
    steered, plain = capsys.readouterr().out.strip().split("\n")[-2:]
    assert steered.startswith("steered (strength 0): A dog is") and plain.startswith("unsteered: A dog is")
    assert steered.split(": ", 1)[1] == plain.split(": ", 1)[1]


def test_steer_with_a_meta_latent(tiny_release: str, capsys: pytest.CaptureFixture) -> None:
    args = ["steer", "--release", tiny_release, "--sae", "128", "--meta", "3", "--prompt", "A dog is", "--tokens", "8"]
    assert main(args) == 0
    assert "unsteered: A dog is" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sae", "64", "--meta", "1"], "has no meta-SAE"),
        (["--sae", "128", "--latent", "999"], "out of range"),
    ],
)
def test_steer_errors_are_one_line(
    tiny_release: str, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    assert main(["steer", "--release", tiny_release, "--prompt", "A dog is", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "bad", [["--d-meta", "0"], ["--d-meta", "8", "--epochs", "nan"], ["--d-meta", "8", "--epochs", "-1"]]
)
def test_train_meta_refuses_bad_numbers_before_doing_anything(capsys: pytest.CaptureFixture, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train-meta", "--sae", "64", *bad])
    assert exit_.value.code == 2 and "must be from" in capsys.readouterr().err


def test_train_meta_refuses_more_meta_latents_than_half_the_latents(
    tiny_release: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train-meta", "--release", tiny_release, "--sae", "64", "--d-meta", "40"]) == 2
    assert "not a decomposition" in capsys.readouterr().err


def test_steer_refuses_a_strength_out_of_range_before_loading_anything(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["steer", "--sae", "128", "--latent", "4", "--prompt", "A", "--strength", "1e9"])
    assert exit_.value.code == 2 and "--strength: must be from -100 to 100" in capsys.readouterr().err


def test_export_a_card_and_the_tables(tiny_release: str, tmp_path, capsys: pytest.CaptureFixture) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from backend.explore.exports import card_from_json

    assert main(["export", "card", "--release", tiny_release, "--sae", "128", "--latent", "4"]) == 0
    assert card_from_json(capsys.readouterr().out).latent == 4
    for what in ("latents", "decompositions", "stitching"):
        out = tmp_path / f"{what}.parquet"
        assert (
            main(["export", what, "--release", tiny_release, "--sae", "128", "--format", "parquet", "--out", str(out)])
            == 0
        )
        assert len(pd.read_parquet(out)) > 0
    assert main(["export", "decompositions", "--release", tiny_release, "--sae", "64"]) == 2


def test_add_from_the_command_line(tiny_world, capsys: pytest.CaptureFixture) -> None:  # type: ignore[no-untyped-def]
    from backend.index.artifact import LatentIndex
    from backend.index.store import IndexReader
    from backend.sources.catalog import get_release
    from tests.backend.tiny_models import saelens_folder

    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    args = ["add", "--id", "cli", "--sae", str(folder), "--corpus", str(tiny_world["corpus"]), "--contexts", "8"]
    assert main([*args, "--positions", "2:-2", "--top-k", "5"]) == 0
    out = capsys.readouterr().out
    assert "SAE 32: indexed 8 contexts (" in out and "added cli (SAEs 32)" in out
    # SAEDashboard's settings in the one command, not `add` and then `index` again.
    meta = IndexReader.open(LatentIndex.served(get_release("cli"), "32").folder).meta
    assert meta["positions"] == [2, -2] and meta["top_k"] == 5
    assert main(["add", "--id", "../x", "--sae", str(folder)]) == 2


def test_index_on_a_local_ray_cluster_from_the_command_line(tiny_world, capsys: pytest.CaptureFixture) -> None:  # type: ignore[no-untyped-def]
    from backend.index.store import IndexReader
    from backend.pipeline.add import AddRequest, add_release
    from backend.sources.release import CorpusSpec
    from tests.backend.tiny_models import saelens_folder

    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    release = add_release(
        AddRequest("r", (str(folder),), CorpusSpec("local", path=str(tiny_world["corpus"])), contexts=8)
    )
    args = [
        "index",
        "--release",
        "r",
        "--sae",
        "32",
        "--contexts",
        "12",
        "--ray",
        "--workers",
        "2",
        "--shard-contexts",
        "4",
    ]
    assert main(args) == 0
    assert "indexed 12 contexts" in capsys.readouterr().out
    assert IndexReader.open(release.paths.index("32")).meta["n_contexts"] == 12


def test_index_on_ray_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["index", "--sae", "64", "--ray"]) == 2
    assert "pip install -e .[ray]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "card", "--sae", "128", "--latent", "4", "--out", "{tmp}/missing/card.json"], "does not exist"),
        (["export", "card", "--sae", "128", "--latent", "4", "--out", "{tmp}"], "is a folder"),
        (["export", "latents", "--sae", "128", "--format", "csv", "--out", "{tmp}"], "is a folder"),
        (["steer", "--sae", "128", "--meta", "1000000000", "--prompt", "A"], "no meta-latent 1000000000"),
        (["index", "--sae", "64", "--workers", "2"], "--workers only go with --ray"),
        (["index", "--sae", "64", "--shard-contexts", "4", "--checkpoint-minutes", "1"], "only go with --ray"),
        (["index", "--sae", "64", "--positions", "500:600", "--contexts", "8"], "count no token"),
        (["index", "--sae", "64", "--positions", "5:5", "--contexts", "8"], "count no token"),
        (["publish", "--out", "{tmp}/pub", "--repo", "../../x"], "Hub repo id"),
        (["export", "canonicality", "--sae", "64-seed2"], "64-seed2 is the second seed of SAE 64"),
        (["export", "stitching", "--sae", "64-seed2"], "read only by the seed lens; name a family SAE (64, 128)"),
        (["index", "--sae", "64-seed2", "--contexts", "8"], "is the second seed of SAE 64"),
        (["train-meta", "--sae", "64-seed2", "--d-meta", "4"], "is the second seed of SAE 64"),
        (["steer", "--sae", "64-seed2", "--latent", "1", "--prompt", "A"], "is the second seed of SAE 64"),
    ],
)
def test_former_tracebacks_are_one_line_errors(
    tiny_release: str,
    tmp_path,
    capsys: pytest.CaptureFixture,
    args: list[str],
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([argv[0], "--release", tiny_release, *argv[1:]]) == 2
    assert message in capsys.readouterr().err


def test_a_token_file_is_indexed_whole_unless_contexts_are_given(tiny_world, capsys: pytest.CaptureFixture) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from backend.index.store import IndexReader
    from backend.pipeline.add import AddRequest, add_release
    from backend.sources.release import CorpusSpec
    from tests.backend.tiny_models import saelens_folder

    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    corpus = CorpusSpec("local", path=str(tiny_world["corpus"]))
    release = add_release(AddRequest("r", (str(folder),), corpus, contexts=8), report=lambda *_: None)
    tokens = tiny_world["root"] / "tokens.npy"
    np.save(tokens, np.random.default_rng(0).integers(3, 50, (3, 16)))
    assert main(["index", "--release", "r", "--sae", "32", "--tokens", str(tokens)]) == 0
    assert "indexed 3 contexts (48 tokens counted)" in capsys.readouterr().out
    assert IndexReader.open(release.paths.index("32")).meta["n_contexts"] == 3
    assert main(["index", "--release", "r", "--sae", "32", "--tokens", str(tokens), "--contexts", "2"]) == 0
    assert "indexed 2 contexts" in capsys.readouterr().out


def test_lenses_prints_each_lens_per_size_for_both_families(tiny_release: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["lenses", "--release", tiny_release]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "shared_across_seeds" in printed[0] and "found_by_other_family" in printed[0] and "fvu" in printed[0]
    assert [line.split()[:2] for line in printed[1:5]] == [
        ["standard", "64"], ["standard", "128"], ["Matryoshka", "64"], ["Matryoshka", "128"]
    ]  # fmt: skip
    assert any(line.startswith("- absorption fraction: Matryoshka is") for line in printed[5:])


def test_export_families_writes_the_side_by_side_table(tiny_release: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "families", "--release", "tiny-matryoshka"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("family,latents,fvu,l0,dloss,") and len(rows) == 4
    assert main(["export", "latents", "--release", tiny_release]) == 2
    assert "Exporting latents needs --sae." in capsys.readouterr().err
