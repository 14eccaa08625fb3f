"""Explanations from Neuronpedia's public export API, cached beside an index and used as labels.

Offline, or for releases without Neuronpedia ids, the automatic labels stand.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.core.errors import SourceUnavailable
from backend.core.files import write_json_atomic

EXPORT_URL = "https://www.neuronpedia.org/api/explanation/export?{query}"
EXPLANATIONS = "explanations.json"
TIMEOUT_S = 60
Fetch = Callable[[str], bytes]


def export_url(neuronpedia_id: str) -> str:
    """`gpt2-small/8-res_fs49152-jb` -> the export URL for that model and SAE."""
    model, _, sae = neuronpedia_id.partition("/")
    if not model or not sae:
        raise SourceUnavailable(f"{neuronpedia_id!r} is not a Neuronpedia id of the form model/sae.")
    return EXPORT_URL.format(query=urllib.parse.urlencode({"modelId": model, "saeId": sae}))


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return bytes(response.read())


def parse_export(payload: Any) -> dict[int, str]:
    """latent -> explanation from the export's JSON (a list of {index, description, ...}); the first
    explanation of a latent wins."""
    if not isinstance(payload, list):
        raise SourceUnavailable("Neuronpedia's export did not return a list of explanations.")
    out: dict[int, str] = {}
    for row in payload:
        try:
            index, text = int(row["index"]), str(row["description"]).strip()
        except (KeyError, TypeError, ValueError):
            continue
        if text and index not in out:
            out[index] = text
    return out


def import_explanations(neuronpedia_id: str, index_folder: Path, fetch: Fetch = _http_get) -> int:
    """Download, parse and cache the explanations; returns how many latents got one."""
    url = export_url(neuronpedia_id)
    try:
        payload = json.loads(fetch(url))
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise SourceUnavailable(f"Neuronpedia cannot be reached ({err}); the automatic labels stay.") from err
    except json.JSONDecodeError as err:
        raise SourceUnavailable(f"Neuronpedia's export is not JSON ({err}); the automatic labels stay.") from err
    explanations = parse_export(payload)
    write_json_atomic(
        index_folder / EXPLANATIONS, {"source": url, "labels": {str(k): v for k, v in explanations.items()}}
    )
    return len(explanations)


def cached_explanations(index_folder: Path) -> dict[int, str]:
    path = index_folder / EXPLANATIONS
    if not path.exists():
        return {}
    try:
        return {int(k): str(v) for k, v in json.loads(path.read_text())["labels"].items()}
    except (json.JSONDecodeError, KeyError, ValueError, AttributeError):
        return {}
