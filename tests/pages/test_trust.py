"""AppTest for the app under bad input and faults: corrupt stores give an error with the repair command, echoed
parameters are inert Markdown, a read-only deployment hides every action that trains, computes or parses."""

from pathlib import Path

import pytest

from backend.polysemy.probe_sets import MAX_UPLOAD_BYTES
from tests.files import replace_bytes
from tests.pages.test_app import no_crash, run, without_map

ATTACK = "![p](https://x.invalid/p.png) [Session expired: log in](https://x.invalid/login)"


@pytest.mark.parametrize("name", ["examples.parquet", "tokens.npy", "vocab.json", "latents.parquet", "meta.json"])
def test_a_corrupt_store_file_is_an_error_with_the_repair_command(tiny_copy: str, data_dir: Path, name: str) -> None:
    index = data_dir / "releases" / tiny_copy / "index" / "64"
    data = bytearray((index / name).read_bytes())
    data[len(data) // 2] ^= 0x55
    replace_bytes(index / name, bytes(data))
    at = run("latent", release=tiny_copy, sae="64", latent="3")
    no_crash(at)
    assert "corrupt" in at.error[0].value and "python -m backend build" in at.error[0].value


def test_echoed_parameters_are_escaped_and_truncated(tiny_release: str) -> None:
    at = run("search", release=tiny_release, sae="128", q=ATTACK)
    no_crash(at)
    caption = next(c.value for c in at.caption if "latents match" in c.value)
    assert "](" not in caption.replace("\\]\\(", "") and "\\!\\[p\\]" in caption
    at = run("latent", release=tiny_release, sae="128", latent="x" * 100_000 + ATTACK)
    no_crash(at)
    assert len(at.warning[0].value) < 700 and "![p]" not in at.warning[0].value


def test_the_probe_uploader_states_the_apps_limit_not_the_servers(tiny_release: str) -> None:
    at = run("polysemy", release=tiny_release, set="upload")
    no_crash(at)
    assert at.get("file_uploader")[0].proto.max_upload_size_mb == MAX_UPLOAD_BYTES // 10**6


def test_a_read_only_deployment_hides_training_uploads_and_compute(
    tiny_release: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_READ_ONLY", "1")
    at = run(None, release=tiny_release, sae="128")
    no_crash(at)
    assert not any(e.label.startswith("Train a meta-SAE") for e in at.expander)
    at = run("polysemy", release=tiny_release, set="upload")
    no_crash(at)
    assert not at.get("file_uploader") and any("read-only" in c.value for c in at.caption)
    with without_map(tiny_release, "64"):
        at = run("map", release=tiny_release, sae="64")
        no_crash(at)
        assert not any(b.label == "Compute the map" for b in at.button)
        assert any("read-only" in c.value and "python -m backend build" in c.value for c in at.caption)


def shown_text(at) -> str:  # type: ignore[no-untyped-def]
    """Everything the page sends to the browser, as text (protos of every element, tables' bytes included)."""

    def walk(node) -> list[str]:  # type: ignore[no-untyped-def]
        own = [str(node.proto)] if getattr(node, "proto", None) is not None else []
        return own + [text for child in getattr(node, "children", {}).values() for text in walk(child)]

    return "\n".join(walk(at._tree))


@pytest.mark.parametrize("page", [None, "latent", "meta", "search", "stitching", "map", "polysemy", "add"])
def test_no_page_shows_where_the_server_keeps_its_files(tiny_release: str, data_dir: Path, page: str | None) -> None:
    at = run(page, release=tiny_release, sae="128", q="the", text="Albert Einstein")
    no_crash(at)
    text = shown_text(at)
    assert str(data_dir.parent) not in text and str(Path.home()) + "/" not in text


def test_an_error_names_no_server_folder(tiny_copy: str, data_dir: Path) -> None:
    replace_bytes(data_dir / "releases" / tiny_copy / "sae-64" / "sae_weights.safetensors", b"broken")
    at = run(None, release=tiny_copy, sae="64")
    no_crash(at)
    assert at.error and "‹data›" in at.error[0].value
    assert str(data_dir.parent) not in shown_text(at)


def test_unknown_link_parameters_are_named_and_long_names_are_read(tiny_release: str) -> None:
    at = run("meta", release=tiny_release, sae="128", meta="2", colourmap="red")
    no_crash(at)
    assert any("'colourmap'" in w.value and "links take" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.header[0].value.startswith("Meta-latent 2:")
