"""Generate a steered and an unsteered continuation side by side, token by token.

Both come from one batch of two rows (row 0 steered, row 1 not) with a key-value cache, each row
sampled from its own generator seeded alike: at strength 0 the two are the same token for token,
so any difference is the direction's doing. The BOS position is never steered: the residual
stream there is tens of times larger than anywhere else (a massive activation), and pushing it
changes nothing but the attention sink.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from backend.core.errors import AtlasError
from backend.models.language import LanguageModel
from backend.steering.directions import Direction

MAX_NEW_TOKENS = 200
MAX_STRENGTH = 100.0


@dataclass(frozen=True)
class SteerConfig:
    strength: float = 8.0
    """Multiples of the direction's unit (a latent's largest activation); negative pushes away."""
    clamp: bool = False
    """Set the latent's activation to `strength * unit` wherever the model reads the hook, instead of adding."""
    max_new_tokens: int = 40
    temperature: float = 0.7
    """0 = greedy."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not -MAX_STRENGTH <= self.strength <= MAX_STRENGTH:
            raise AtlasError(f"Steering strength must be between -{MAX_STRENGTH:g} and {MAX_STRENGTH:g}.")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise AtlasError(f"Generate between 1 and {MAX_NEW_TOKENS} tokens.")
        if not 0 <= self.temperature <= 2:
            raise AtlasError("The sampling temperature must be between 0 and 2.")


@dataclass(frozen=True)
class Step:
    """One generated token of each continuation; None once that continuation has ended."""

    steered: int | None
    plain: int | None


class StreamEdit:
    """The change made to the hook's activations `[batch, seq, d]`: row 0 only, BOS left alone."""

    def __init__(self, direction: Direction, cfg: SteerConfig, batch: int):
        if cfg.clamp and not direction.can_clamp:
            raise AtlasError("Only an SAE latent can be clamped; a meta-latent direction can only be added.")
        self.direction, self.cfg = direction, cfg
        self.rows = torch.zeros(batch, 1, 1)
        self.rows[0] = 1.0
        self.first_call = True

    def __call__(self, x: Tensor) -> Tensor:
        direction = self.direction
        vector = direction.vector.to(x.device)
        if self.cfg.clamp:
            # The latent's own decoder row, times how far its activation is from the clamped value.
            delta = (self.cfg.strength * direction.unit - direction.activation(x)) * (vector / direction.unit)
        else:
            delta = self.cfg.strength * vector.expand_as(x)
        mask = self.rows.to(x.device).expand(x.shape[0], x.shape[1], 1).clone()
        if self.first_call:
            mask[:, 0] = 0.0
            self.first_call = False
        return delta * mask


def _sample(logits: Tensor, temperature: float, generator: torch.Generator) -> int:
    """One token id from `logits [vocab]`."""
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def steered_generation(
    lm: LanguageModel, hook: str, convention: str, prompt: Tensor, direction: Direction, cfg: SteerConfig
) -> Iterator[Step]:
    """Yields each new token of the steered and the plain continuation of `prompt [seq]` (with BOS) as it
    is sampled; stops when both have produced EOS or `cfg.max_new_tokens` tokens."""
    if prompt.ndim != 1 or len(prompt) < 2:
        raise AtlasError("Type a prompt to continue.")
    device = lm.device
    generators = [torch.Generator(device).manual_seed(cfg.seed) for _ in range(2)]
    eos = lm.tokenizer.eos_token_id
    ended = [False, False]
    inputs = prompt.to(device).unsqueeze(0).repeat(2, 1)
    cache = None
    with lm.patched(hook, convention, StreamEdit(direction, cfg, batch=2)):
        for _ in range(cfg.max_new_tokens):
            out = lm.model(inputs, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[:, -1].float()
            picked = [_sample(logits[row], cfg.temperature, generators[row]) for row in range(2)]
            yield Step(*(None if ended[row] else picked[row] for row in range(2)))
            ended = [ended[row] or picked[row] == eos for row in range(2)]
            if all(ended):
                return
            inputs = torch.tensor(picked, device=device).view(2, 1)
