"""Which hook makes the embedded default mean something? A sweep judged by meaning, not by FVU.

    .venv/bin/python benchmarks/bench_hook_sweep.py [--blocks 8,12,16,20,24] [--contexts 3000] [--sizes 2304,4608]
                                                   [--work DIR] [--tiny]

For each hook `blocks.B.hook_resid_pre` of SmolLM2-135M-Instruct: the activations of the same WordNet contexts
(all hooks read in one forward pass to the deepest), the release's ReLU + L1 recipe trained at each size with the
build's trainer (one epoch, a seed per size), a meta-SAE on the largest (d_sae / 12 meta-latents, k=8, as the
build trains it), and then what the issue asks the default to be judged by:
- meaning of meta-latents (`backend/metasae/semantics.py`): WordNet category agreement of each meta-latent's
  members against chance, how many meta-latents are catch-alls or spelling groups, the five most used;
- the polysemy benchmark on the offline WordNet set (template mode, PS-Eval's counting) for every size;
- the stitching story: the novel fraction between neighbouring sizes at cosine 0.7;
- the person latents (most of their top examples are people's names) with their decompositions, to read.
Top examples are read over the held-out contexts. Activations are kept in `--work` (default a temporary
folder) so a rerun reuses them. `--tiny` runs the whole path in seconds on a few contexts.
"""

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch import Tensor  # noqa: E402

TOP = 10


def _activations(lm, tokens: Tensor, hooks: list[str], work: Path) -> dict[str, Tensor]:
    from backend.core.config import fast_bf16

    """`[n, seq, d]` float16 activations per hook, read once (one pass to the deepest hook) and kept in `work`."""
    path = work / f"acts-{len(tokens)}-{'-'.join(h.split('.')[1] for h in hooks)}.safetensors"
    if path.exists():
        stored = load_file(str(path))
        if torch.equal(stored.pop("tokens"), tokens):
            return stored
    parts: dict[str, list[Tensor]] = {h: [] for h in hooks}
    start_time = time.perf_counter()
    for start in range(0, len(tokens), 64):
        acts = lm.activations_at(tokens[start : start + 64], hooks, "hf", autocast=fast_bf16(lm.device))
        for hook, value in acts.items():
            parts[hook].append(value.to(torch.float16))
        done = min(start + 64, len(tokens))
        print(f"  activations {done}/{len(tokens)} contexts, {time.perf_counter() - start_time:.0f} s", flush=True)
    out = {h: torch.cat(p) for h, p in parts.items()}
    save_file({**out, "tokens": tokens.contiguous()}, str(path))
    return out


def _top_examples(sae, x: Tensor, ids: Tensor, held: Tensor) -> dict[str, np.ndarray]:
    """Each latent's `TOP` strongest examples over `x [n, d]` at flat positions `ids [n]` of the token array
    of the held-out token array `held [contexts, seq]`: latent, token, previous and next token ids, as the index gives them."""
    best_val = torch.zeros(TOP, sae.cfg.d_sae)
    best_tok = torch.zeros(TOP, sae.cfg.d_sae, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(x), 4096):
            acts = sae.encode(x[start : start + 4096].float())
            vals = torch.cat([best_val, acts])
            toks = torch.cat([best_tok, ids[start : start + 4096, None].expand_as(acts)])
            best_val, where = vals.topk(TOP, dim=0)
            best_tok = toks.gather(0, where)
    keep = best_val > 0
    where = best_tok[keep]
    width = held.shape[1]
    column = where % width
    flat = held.reshape(-1).long()
    return {
        "latent": torch.arange(sae.cfg.d_sae).expand_as(best_tok)[keep].numpy(),
        "token": flat[where].numpy(),
        "previous": torch.where(column > 0, flat[(where - 1).clamp_min(0)], -1).numpy(),
        "next": torch.where(column < width - 1, flat[(where + 1).clamp_max(len(flat) - 1)], -1).numpy(),
    }


def _labels(top: dict[str, np.ndarray], vocab: list[str], d_sae: int) -> list[str]:
    from backend.index.finalize import auto_label

    grouped: list[list[tuple[str, float]]] = [[] for _ in range(d_sae)]
    for token, latent in zip(top["token"].tolist(), top["latent"].tolist(), strict=True):
        grouped[latent].append((vocab[token], 1.0))
    return [auto_label(items) for items in grouped]


@dataclass
class HookData:
    """One hook's token vectors: training and held-out, with where each held-out vector sits in `held`."""

    train_x: Tensor
    eval_x: Tensor
    eval_ids: Tensor  # [n_eval] flat positions in `held`
    held: Tensor  # [contexts, seq] held-out token ids


def hook_data(lm, release, tokens: Tensor, acts: Tensor, n_train: int) -> HookData:
    """The build's token vectors (BOS dropped, outliers capped) of `acts [contexts, seq, d]`, split at `n_train`."""
    from backend.data.activations import kept_positions, norm_cap, token_vectors

    cap = norm_cap(acts[:n_train], tokens[:n_train], lm.bos_id, release.outlier_norm_multiple)
    held = tokens[n_train:]
    eval_ids = torch.arange(held.numel()).view_as(held)[kept_positions(held, acts[n_train:], lm.bos_id, cap)]
    return HookData(
        token_vectors(acts[:n_train], tokens[:n_train], lm.bos_id, cap),
        token_vectors(acts[n_train:], held, lm.bos_id, cap),
        eval_ids,
        held,
    )


def judge_family(saes: dict, data: HookData, lm, release, probe, tiny: bool = False) -> dict:
    """Judge a family `{d_sae: SAE}` (sizes ascending) by meaning: print the reading, return the figures."""
    import pandas as pd

    from backend.data.lexicon import load_lexicon
    from backend.metasae.decompose import build_decompositions, decompose_all, meta_label, reconstruction_cosines
    from backend.metasae.semantics import judge, latent_words
    from backend.metasae.showcase import latent_kinds
    from backend.polysemy.probe import top_latents, word_vectors
    from backend.polysemy.summary import summarise
    from backend.stitching.matching import classify, match_saes
    from backend.training.meta import MetaTrainConfig, fit_meta
    from backend.training.metrics import member_coherence, meta_variance_explained, reconstruction_metrics

    sizes = sorted(saes)
    vocab = lm.vocab_strings()
    quality = {s: reconstruction_metrics(sae, data.eval_x) for s, sae in saes.items()}
    novel = [classify(match_saes(saes[a], saes[b])).summary()["novel fraction"] for a, b in itertools.pairwise(sizes)]
    largest = saes[sizes[-1]]
    meta_cfg = MetaTrainConfig(max(8, sizes[-1] // 12), 8 if sizes[-1] >= 96 else 2, 200 if not tiny else 20)
    meta = fit_meta(largest, meta_cfg, None, None)[0].sae
    decomps = build_decompositions(meta, largest)
    top = _top_examples(largest, data.eval_x, data.eval_ids, data.held)
    words = latent_words(top, vocab, load_lexicon(), largest.cfg.d_sae)
    verdict = judge(decomps, words)
    labels = _labels(top, vocab, largest.cfg.d_sae)
    coherence = member_coherence(decompose_all(meta, largest), largest, data.eval_x)["coherence_mean"]
    items = [(c, w) for w, c in zip(probe["word"], probe["context1"], strict=True)]
    items += [(c, w) for w, c in zip(probe["word"], probe["context2"], strict=True)]
    vectors, skipped = word_vectors(lm, release, items, "template")
    n = len(probe)
    by_sae = {}
    for size, sae in saes.items():
        argmax = pd.array(top_latents(sae, vectors, 1)[0][:, 0].numpy(), dtype="Int64")
        argmax[[s is not None for s in skipped]] = pd.NA
        reasons = [skipped[i] or skipped[n + i] or "" for i in range(n)]
        by_sae[str(size)] = pd.DataFrame({"argmax1": argmax[:n], "argmax2": argmax[n:], "skipped": reasons})
    poly = summarise(probe, by_sae, {str(s): s for s in sizes}).set_index("sae")
    summary = verdict.summary()
    for size in sizes:
        q, p = quality[size], poly.loc[str(size)]
        print(
            f"  SAE-{size}: FVU {q['fvu']:.3f} L0 {q['l0']:.1f} dead {q['dead_fraction']:.1%} | polysemy acc "
            f"{p['accuracy']:.3f} spec {p['specificity']:.3f} F1 {p['f1']:.3f} ({p['pairs']} pairs)"
        )
    print(f"  novel per pair: {' / '.join(f'{v:.1%}' for v in novel)}")
    print(
        f"  meta ({meta.cfg.d_sae}, k={meta_cfg.k}): agreement {summary['category_agreement']:.3f} vs random "
        f"{summary['category_agreement_random']:.3f} = {summary['category_agreement_ratio']:.2f}x; coherence "
        f"{coherence:.3f}; catch-alls {int(summary['catch_all_meta_latents'])}; spelling groups "
        f"{int(summary['spelling_meta_latents'])}; most used {summary['most_used_share']:.1%} (uniform "
        f"{summary['uniform_share']:.2%})"
    )
    for j in verdict.most_used():
        members = decomps.members(j)
        spelling = ", spelling" if verdict.spelling[j] else ""
        print(f"    most used #{j} ({verdict.shares[j]:.1%}{spelling}): {meta_label(members, labels)}")
    people = np.array([i for i, kind in enumerate(latent_kinds(words)) if kind == "person"], dtype=np.int64)
    cos = reconstruction_cosines(meta, largest, torch.from_numpy(people)) if len(people) else torch.zeros(0)
    print(f"  person latents: {len(people)}")
    for latent, c in sorted(zip(people.tolist(), cos.tolist(), strict=True), key=lambda lc: -lc[1])[:4]:
        parts = decomps.of_latent(latent)
        text = " + ".join(f"[{meta_label(decomps.members(m), labels)}] {v:.2f}" for m, v in parts[:5])
        print(f"    #{latent} {labels[latent]} (cos {c:.2f}): {text}")
    return {
        "sizes": sizes,
        "fvu": {s: q["fvu"] for s, q in quality.items()},
        "l0": {s: q["l0"] for s, q in quality.items()},
        "dead": {s: q["dead_fraction"] for s, q in quality.items()},
        "novel": novel,
        "meta_variance_explained": meta_variance_explained(meta, largest.unit_decoder().detach()),
        "agreement_ratio": summary["category_agreement_ratio"],
        "coherence": coherence,
        "spelling_among_most_used": int(summary["spelling_among_most_used"]),
        "accuracy": {s: float(poly.loc[str(s), "accuracy"]) for s in sizes},
        "specificity": {s: float(poly.loc[str(s), "specificity"]) for s in sizes},
        "people": len(people),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="8,12,16,20,24")
    parser.add_argument("--contexts", type=int, default=3000)
    parser.add_argument("--eval-contexts", type=int, default=600)
    parser.add_argument("--sizes", default="2304,4608")
    parser.add_argument("--pairs", type=int, default=400, help="WordNet probe pairs")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--read-blocks", default=None, help="blocks whose activations to read (default: --blocks)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--tiny", action="store_true", help="a few contexts and small SAEs: the path in seconds")
    args = parser.parse_args()
    if args.tiny:
        args.contexts, args.eval_contexts, args.sizes, args.pairs = 24, 8, "64,128", 40
        args.blocks = ",".join(args.blocks.split(",")[:2])

    from backend.core.config import default_device
    from backend.data.corpus import corpus_texts, pack_contexts
    from backend.models.language import load_language_model
    from backend.pipeline.members import train_config
    from backend.polysemy.probe_sets import wordnet_probe_set
    from backend.sources.catalog import default_release_id, get_release, load_catalog
    from backend.sources.release import SAEEntry
    from backend.training.trainer import train_sae

    torch.manual_seed(0)
    scratch = tempfile.TemporaryDirectory(prefix="hook-sweep-")  # removed at exit unless --work keeps the activations
    work = args.work or Path(scratch.name)
    work.mkdir(parents=True, exist_ok=True)
    release = get_release(default_release_id(load_catalog()))
    lm = load_language_model(release.model, default_device())
    texts = corpus_texts(release.corpus)
    n_wordnet_tokens = sum(len(ids) + 1 for ids in lm.tokenizer(texts, add_special_tokens=False)["input_ids"])
    print(
        f"WordNet: {len(texts):,} texts, {n_wordnet_tokens:,} tokens = {n_wordnet_tokens // (release.context_size - 1):,}"
        f" contexts of {release.context_size}; this sweep reads {args.contexts:,}"
    )
    tokens = pack_contexts(texts, lm.tokenizer, lm.bos_id, release.context_size, args.contexts, seed=0)
    hooks = [f"blocks.{b}.hook_resid_pre" for b in args.blocks.split(",")]
    read = [f"blocks.{b}.hook_resid_pre" for b in (args.read_blocks or args.blocks).split(",")]
    start = time.perf_counter()
    acts = _activations(lm, tokens, read, work)
    print(f"activations at {len(hooks)} hooks: {time.perf_counter() - start:.0f} s")
    probe = wordnet_probe_set(args.pairs)
    sizes = [int(s) for s in args.sizes.split(",")]
    n_train = len(tokens) - args.eval_contexts
    rows = []
    for hook in hooks:
        t0 = time.perf_counter()
        data = hook_data(lm, release, tokens, acts[hook], n_train)
        saes = {}
        for number, size in enumerate(sizes):
            entry = SAEEntry(id=str(size), location=None, d_sae=size)  # type: ignore[arg-type]
            cfg = train_config(release, entry, args.epochs, 1024, len(sizes) - 1 - number)
            saes[size] = train_sae(data.train_x, cfg, None, None, default_device()).sae
        print(f"\n== {hook} ==")
        judged = judge_family(saes, data, lm, replace(release, hook=hook), probe, tiny=args.tiny)
        rows.append((hook, judged, time.perf_counter() - t0))
    print(
        "\n| hook | FVU (largest) | novel per pair | category agreement / random | coherence | spelling among 5 most used | polysemy acc / spec (largest) | person latents | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for hook, j, secs in rows:
        largest = j["sizes"][-1]
        print(
            f"| {hook} | {j['fvu'][largest]:.3f} | {' / '.join(f'{v:.0%}' for v in j['novel'])} | "
            f"{j['agreement_ratio']:.2f}x | {j['coherence']:.3f} | {j['spelling_among_most_used']} | "
            f"{j['accuracy'][largest]:.3f} / {j['specificity'][largest]:.3f} | {j['people']} | {secs:.0f} |"
        )


if __name__ == "__main__":
    main()
