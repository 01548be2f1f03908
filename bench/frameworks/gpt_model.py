"""The GPT-style transformer the framework scripts run, and its synthetic token data.

A decoder-only transformer: token embedding plus fixed sinusoidal positions (no learned
position table), pre-norm blocks of causal self-attention (scaled_dot_product_attention)
and a 4x GELU MLP, a final LayerNorm and an untied output layer. With 8 layers,
d_model 1024 and a 32,000-token vocabulary it has 166 M parameters.

Attention takes an optional per-layer KVCache for generation: the keys and values of
every token so far, grown with torch.cat at each step (the naive serving pattern whose
allocations the serving script measures).

The data are learnable, so that the loss says whether training works: each sequence
counts up from a random token with a random stride, modulo DATA_SPAN.

Imports torch: import it only after allocator_choice.prepare_environment().
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

VOCABULARY = 32_000
# The data use the first DATA_SPAN tokens only: the loss falls within the first steps
# (to about ln(DATA_SPAN)) and then further as the model learns to count.
DATA_SPAN = 1024


class KVCache:
    """One layer's keys and values, [batch, heads, tokens, head_dim], grown per token."""

    def __init__(self):
        self.keys = None
        self.values = None

    def extend(self, keys, values):
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=2)
            self.values = torch.cat([self.values, values], dim=2)
        return self.keys, self.values

    def tokens(self):
        return 0 if self.keys is None else self.keys.shape[2]


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, cache=None):
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (
            t.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)
            for t in (q, k, v)
        )
        # A prompt sees only earlier tokens; a generated token, alone in its query, sees
        # the whole cache, so it needs no mask.
        causal = cache is None or cache.tokens() == 0
        if cache is not None:
            k, v = cache.extend(k, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal and tokens > 1)
        return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))


class Block(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, heads)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x, cache=None):
        x = x + self.attention(self.attention_norm(x), cache)
        return x + self.mlp(self.mlp_norm(x))


def sinusoidal_positions(first, count, width, device, dtype):
    """[count, width] fixed position encodings for positions first .. first + count - 1."""
    positions = torch.arange(first, first + count, device=device, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(
        torch.arange(0, width, 2, device=device, dtype=torch.float32)
        * (-math.log(10_000.0) / width)
    )
    angles = positions * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).to(dtype)


class GPT(nn.Module):
    def __init__(self, layers, d_model, heads, vocabulary=VOCABULARY):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocabulary, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocabulary, bias=False)

    def forward(self, tokens, caches=None):
        """Logits [batch, tokens, vocabulary]; with caches (one KVCache per layer), the
        tokens continue the cached ones."""
        first = 0 if caches is None else caches[0].tokens()
        x = self.embedding(tokens)
        x = x + sinusoidal_positions(first, tokens.shape[1], self.d_model, x.device, x.dtype)
        for index, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[index])
        return self.output(self.norm(x))

    def parameter_count(self):
        return sum(parameter.numel() for parameter in self.parameters())


def counting_sequences(batch, length, generator, span=DATA_SPAN):
    """[batch, length] int64 tokens on the host: start + stride * position, modulo
    `span`, with a random start and a stride in 1..16 per sequence."""
    start = torch.randint(0, span, (batch, 1), generator=generator)
    stride = torch.randint(1, 17, (batch, 1), generator=generator)
    return (start + stride * torch.arange(length).unsqueeze(0)) % span
