"""Data-parallel training on N GPUs, on paper: a step's compute against its all-reduce.

    python benchmarks/scaling_model.py

Each of N devices runs the step on its own batch, then the gradients (one float32 per
weight) are summed across devices by a ring all-reduce, which sends and receives
2 (N - 1) / N of the gradient's bytes per device, in 2 (N - 1) messages. Without
overlap, the step takes compute + all-reduce, and scaling stops paying where the
all-reduce passes ``LIMIT`` (20%) of the step. This prints, for the tuned LSTM and HAN
(weights counted from the built models):

- the arithmetic of one training step (forward and backward, about 3x the forward's
  multiply-adds of the recurrent and attention layers; padded batches: an upper bound),
- the measured step time it is set against: one NVIDIA H200, the seed's padded configs
  at batch 50 (docs/benchmarks.md, "On a GPU": LSTM 1.79 s, HAN 1.99 s per 200-step
  epoch), taken as the time of a step up to batch 64 since a step of these small RNNs is
  bound by its sequential steps (300 words; 50 words then 15 sentences), not arithmetic,
- the all-reduce time and its share of the step per interconnect, for N = 2 … 64, and
  the largest N that stays under ``LIMIT``.

Assumed bandwidths, per direction, the nominal rates (NCCL reaches 70-90% of them) and
latencies per message (orders of magnitude, not measured here): see ``LINKS``.
"""

from dataclasses import dataclass

LIMIT = 0.20  # the all-reduce's share of a step beyond which more devices stop paying
GPU_COUNTS = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Link:
    name: str
    gigabytes_per_s: float  # per direction
    latency_us: float  # per message of the ring
    most: int  # devices it can join: one host's 8 GPUs, or any number of hosts
    source: str


LINKS = (
    Link("NVLink 4 (H200 SXM)", 450.0, 5.0, 8, "NVIDIA H200 datasheet: 900 GB/s bidirectional"),
    Link("PCIe Gen5 x16", 64.0, 10.0, 8, "NVIDIA H200 datasheet: 128 GB/s bidirectional"),
    Link("25 GbE between hosts", 3.125, 30.0, 4096, "IEEE 802.3by: 25 Gbit/s a direction"),
)

# Measured seconds per step on one H200 (docs/benchmarks.md, "On a GPU": 10,000
# documents in batches of 50 = 200 steps; LSTM: PyTorch, cuDNN, mask off; HAN: JAX).
MEASURED_STEP_S = {"lstm": 1.79 / 200, "han": 1.99 / 200}


def step_flops(config) -> float:
    """Multiply-adds × 2 of one training step on a padded batch, backward = 2 × forward."""
    e, u, b = config.embedding_dim, config.units, config.batch_size
    if hasattr(config, "max_words"):  # LSTM: 4 gates per direction, over every word
        per_word = 2 * (2 * 4 * u * (e + u))
        return 3 * b * config.max_words * per_word
    c = config.context_dim  # HAN: word GRU + attention, then sentence GRU + attention
    per_word = 2 * (2 * 3 * u * (e + u)) + 2 * (2 * u * c + c)
    per_sentence = 2 * (2 * 3 * u * (2 * u + u)) + 2 * (2 * u * c + c)
    words = config.max_sentences * config.words_per_sentence
    return 3 * b * (words * per_word + config.max_sentences * per_sentence)


def allreduce_s(weights: int, devices: int, link: Link) -> float:
    """Seconds of a ring all-reduce of ``weights`` float32 gradients over ``devices``."""
    if devices == 1:
        return 0.0
    sent = 2 * (devices - 1) / devices * 4 * weights
    return sent / (link.gigabytes_per_s * 1e9) + 2 * (devices - 1) * link.latency_us * 1e-6


def largest_paying(weights: int, step_s: float, link: Link) -> int | None:
    """The largest N (up to ``link.most``) whose all-reduce stays within ``LIMIT`` of the
    step (None: not even 2)."""
    paying = [n for n in range(2, link.most + 1) if share(weights, step_s, n, link) <= LIMIT]
    return max(paying) if paying else None


def share(weights: int, step_s: float, devices: int, link: Link) -> float:
    """The all-reduce's share of a step: all-reduce / (compute + all-reduce)."""
    reduce = allreduce_s(weights, devices, link)
    return reduce / (step_s + reduce)


def main() -> None:
    from helpers.models import model_kind, named_config

    for name in ("lstm", "han"):
        config = named_config(name, "tuned")
        weights = model_kind(config).build(config).count_params()
        flops, step_s = step_flops(config), MEASURED_STEP_S[name]
        print(
            f"\n{name.upper()}: {weights:,} weights ({4 * weights / 1e6:.2f} MB of float32 "
            f"gradients), batch {config.batch_size}: {flops / 1e9:.1f} GFLOP a step; "
            f"measured step on one H200 {step_s * 1e3:.1f} ms "
            f"({flops / step_s / 1e12:.1f} TFLOP/s achieved)"
        )
        print("| link | " + " | ".join(f"N={n}" for n in GPU_COUNTS) + " | largest N ≤ 20% |")
        print("|---|" + "---|" * (len(GPU_COUNTS) + 1))
        for link in LINKS:
            cells = [
                f"{allreduce_s(weights, n, link) * 1e3:.2f} ms "
                f"({share(weights, step_s, n, link):.0%})"
                if n <= link.most
                else "—"
                for n in GPU_COUNTS
            ]
            best = largest_paying(weights, step_s, link)
            best = f"{best} (all it joins)" if best == link.most else best or "none"
            print(f"| {link.name} | " + " | ".join(cells) + f" | {best} |")
    print("\nBandwidths per direction (nominal), latency per ring message (assumed):")
    for link in LINKS:
        print(f"- {link.name}: {link.gigabytes_per_s} GB/s, {link.latency_us} µs; {link.source}")


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
