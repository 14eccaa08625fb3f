"""Language models: load one, read residual-stream activations at a hook, stop at that layer.

Hook names follow TransformerLens: `blocks.L.hook_resid_pre` is the input of block L (Hugging Face
`hidden_states[L]`), `blocks.L.hook_resid_post` its output. Conventions: `hf` returns the hidden state
as is; `transformer_lens` subtracts its mean over d_model, which is what TransformerLens's default
weight processing (centred writes to the residual stream) makes the stream equal to.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from backend.core.config import default_device
from backend.core.errors import AtlasError, first_line
from backend.models.embedded import embedded_model_dir

if TYPE_CHECKING:  # transformers takes seconds to import; the pages that only read never need it
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_HOOK = re.compile(r"^blocks\.(\d+)\.hook_resid_(pre|post)$")


@dataclass(frozen=True)
class HookPoint:
    layer: int
    kind: Literal["pre", "post"]

    @classmethod
    def parse(cls, name: str) -> "HookPoint":
        match = _HOOK.match(name)
        if not match:
            raise AtlasError(
                f"Unsupported hook {name!r}: expected blocks.L.hook_resid_pre or blocks.L.hook_resid_post."
            )
        return cls(int(match.group(1)), "pre" if match.group(2) == "pre" else "post")


class _StopForward(Exception):
    """Raised inside the hook so that no layer after the hook runs."""


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks (Llama-style `model.layers`, GPT-2-style `transformer.h`)."""
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module
    raise AtlasError(f"Cannot find the {n_layers} transformer blocks of {type(model).__name__}.")


def apply_convention(hidden: Tensor, convention: str) -> Tensor:
    """`hidden [..., d_model]` in the named convention."""
    if convention == "hf":
        return hidden
    if convention == "transformer_lens":
        return hidden - hidden.mean(dim=-1, keepdim=True)
    raise AtlasError(f"Unknown convention {convention!r}: use 'hf' or 'transformer_lens'.")


class LanguageModel:
    """A causal LM and its tokenizer, with activation reading at TransformerLens-named hooks."""

    def __init__(self, model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.layers = decoder_layers(model)
        bos = tokenizer.bos_token_id
        self.bos_id: int = int(bos if bos is not None else tokenizer.eos_token_id)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def d_model(self) -> int:
        return int(self.model.config.hidden_size)

    @contextmanager
    def _capture(self, hooks: list[HookPoint], store: dict[HookPoint, Tensor]) -> Iterator[None]:
        """While open, a forward pass fills `store` at every hook and stops after the deepest one."""
        for hook in hooks:
            if not 0 <= hook.layer < len(self.layers):
                raise AtlasError(f"{self.name} has {len(self.layers)} blocks; there is no block {hook.layer}.")
        last = max(hooks, key=lambda h: (h.layer, h.kind == "post"))

        def grab(hook: HookPoint, hidden: Any) -> None:
            store[hook] = hidden[0] if isinstance(hidden, tuple) else hidden
            if hook == last:
                raise _StopForward

        handles = []
        for hook in set(hooks):
            layer = self.layers[hook.layer]
            if hook.kind == "pre":
                handles.append(
                    layer.register_forward_pre_hook(
                        lambda _m, args, kwargs, h=hook: grab(h, args[0] if args else kwargs["hidden_states"]),
                        with_kwargs=True,
                    )
                )
            else:
                handles.append(layer.register_forward_hook(lambda _m, _args, out, h=hook: grab(h, out)))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @torch.no_grad()
    def activations(self, tokens: Tensor, hook: str, convention: str = "hf", autocast: bool = False) -> Tensor:
        """`tokens [batch, seq]` -> activations `[batch, seq, d_model]` (float32) at `hook`.

        Blocks after the hook never run. `autocast` computes in bfloat16 (about 4x faster on CPUs
        with bf16 units; ~0.7% relative difference on SmolLM2).
        """
        return self.activations_at(tokens, [hook], convention, autocast)[hook]

    @torch.no_grad()
    def activations_at(
        self, tokens: Tensor, hooks: list[str], convention: str = "hf", autocast: bool = False
    ) -> dict[str, Tensor]:
        """Activations `[batch, seq, d_model]` (float32) at each of `hooks`, from one forward pass that
        stops after the deepest of them (comparing hooks costs one pass to the deepest, not one per hook)."""
        points = {name: HookPoint.parse(name) for name in hooks}
        store: dict[HookPoint, Tensor] = {}
        tokens = tokens.to(self.device)
        with (
            self._capture(list(points.values()), store),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast),
            suppress(_StopForward),
        ):
            self.model(tokens, use_cache=False)
        return {name: apply_convention(store[point].float(), convention) for name, point in points.items()}

    @contextmanager
    def patched(self, hook: str, convention: str, delta: Callable[[Tensor], Tensor]) -> Iterator[None]:
        """While open, every forward pass adds `delta(activations)` to the residual stream at `hook`.

        `delta` sees the activations `[batch, seq, d_model]` in `convention` (float32) and returns what
        to add, of the same shape or broadcastable to it. Adding a difference rather than replacing the
        stream keeps what the convention removed (e.g. the mean); a constant `delta` changes the
        hook's activations by exactly that vector."""
        point = HookPoint.parse(hook)
        if not 0 <= point.layer < len(self.layers):
            raise AtlasError(f"{self.name} has {len(self.layers)} blocks; there is no block {point.layer}.")
        layer = self.layers[point.layer]

        def add(hidden: Tensor) -> Tensor:
            return (hidden.float() + delta(apply_convention(hidden.float(), convention))).to(hidden.dtype)

        def pre(_m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
            if args:
                return (add(args[0]), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": add(kwargs["hidden_states"])}

        def post(_m: Any, _args: Any, out: Any) -> Any:
            return (add(out[0]), *out[1:]) if isinstance(out, tuple) else add(out)

        handle = (
            layer.register_forward_pre_hook(pre, with_kwargs=True)
            if point.kind == "pre"
            else layer.register_forward_hook(post)
        )
        try:
            yield
        finally:
            handle.remove()

    @torch.no_grad()
    def next_token_loss(
        self,
        tokens: Tensor,
        hook: str,
        convention: str = "hf",
        replace: Callable[[Tensor], Tensor] | None = None,
        autocast: bool = False,
    ) -> Tensor:
        """Per-token next-token cross-entropy `[batch, seq - 1]` of `tokens [batch, seq]`, with the
        activations at `hook` (in `convention`) replaced by `replace(activations)` when given."""
        tokens = tokens.to(self.device)
        swap = self.patched(hook, convention, lambda seen: replace(seen) - seen) if replace else nullcontext()
        with swap, torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = self.model(tokens, use_cache=False).logits.float()
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none"
        ).view(len(tokens), -1)

    def tokenize(self, text: str, prepend_bos: bool = True) -> Tensor:
        """`text` -> token ids `[seq]`, with BOS first (it is not added automatically for SmolLM2)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.tensor(([self.bos_id] if prepend_bos else []) + list(ids), dtype=torch.long)

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each id decoded on its own, as the dashboard shows tokens."""
        return [self.tokenizer.decode([i]) for i in ids]  # type: ignore[misc]

    def decode(self, ids: list[int]) -> str:
        """The text of a generated sequence, special tokens (e.g. EOS) left out."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def vocab_strings(self) -> list[str]:
        return [str(t) for t in self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])]

    def unembedding_parts(self) -> tuple[Tensor, Tensor | None]:
        """The output embedding `[vocab, d_model]` (the model's own weights, not a copy, when they are float32) and
        the final norm's gain `[d_model]` (None for a model without one). One row per token of the tokenizer:
        models often pad their embedding past it, e.g. to a multiple of 64; padded rows name no token, and a lens
        that picked one would point outside the vocabulary."""
        w_u = self.model.get_output_embeddings().weight.detach().float()[: len(self.tokenizer)]
        norm = getattr(getattr(self.model, "model", self.model), "norm", None) or getattr(
            getattr(self.model, "transformer", self.model), "ln_f", None
        )
        gain = getattr(norm, "weight", None)
        return w_u, gain.detach().float() if gain is not None else None

    def unembedding(self) -> Tensor:
        """`[vocab, d_model]` matrix for the logit lens, with the final norm's gain folded in (a new tensor)."""
        w_u, gain = self.unembedding_parts()
        return w_u * gain if gain is not None else w_u


def _not_loaded_from_hub(spec: str) -> AtlasError:
    return AtlasError(
        f"Cannot load the language model {spec!r:.80} from the Hugging Face Hub: there is no such model, or this "
        "server cannot reach the Hub (a Hub model needs the internet once, or a populated Hugging Face cache)."
    )


def load_language_model(spec: str, device: torch.device | None = None, hub_only: bool = False) -> LanguageModel:
    """`embedded:<name>`, `local:<path>` or a Hub model id (e.g. `gpt2`), in float32 on `device`. With `hub_only`
    (a visitor's request) a Hub id that fails to load gets one sentence whatever the reason, so the answer never
    tells whether a folder of that name exists beside the server."""
    if spec.startswith("embedded:"):
        path: str | Path = embedded_model_dir(spec.removeprefix("embedded:"))
    elif spec.startswith("local:"):
        path = Path(spec.removeprefix("local:")).expanduser()
    elif Path(spec).expanduser().exists():
        # transformers would read a folder of that name relative to the server's working directory.
        if hub_only:
            raise _not_loaded_from_hub(spec)
        raise AtlasError(f"The model {spec!r:.80} is not a Hub id; write local:<path> for a model folder.")
    else:
        path = spec
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except OSError as err:
        if hub_only:
            raise _not_loaded_from_hub(spec) from err
        raise AtlasError(
            f"Cannot load the language model {spec!r}: {first_line(err)} "
            "Hub models need the internet once (or a populated Hugging Face cache)."
        ) from err
    return LanguageModel(model.to(device or default_device()), tokenizer, spec)  # type: ignore[arg-type]
