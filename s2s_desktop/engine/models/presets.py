"""Named model sizes (`--preset tiny|small|base`) for both architectures.

Parameter counts are for 8,000-piece source and target vocabularies (separate, untied); a joint
vocabulary with shared and tied embeddings (`--joint-vocab --share-embeddings --tie-output`) is much
smaller for the Transformer. `docs/benchmarks.md` lists the measured counts.
"""

from __future__ import annotations

from typing import Any

from s2s_desktop.errors import ConfigError

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "rnn": {
        # 4.9M parameters with separate 8k vocabularies
        "tiny": dict(emb_size=128, encoder_hidden=128, decoder_hidden=256, encoder_layers=1, decoder_layers=1),
        # 11.2M: the benchmark model of docs/benchmarks.md
        "small": dict(emb_size=256, encoder_hidden=256, decoder_hidden=512, encoder_layers=1, decoder_layers=1),
        # 33.2M
        "base": dict(emb_size=512, encoder_hidden=512, decoder_hidden=1024, encoder_layers=2, decoder_layers=1),
    },
    "transformer": {
        # Wu et al. 2021 "transformer_tiny": 4+4 layers, d 128, 4 heads, ff 256: 4.4M with separate 8k
        # vocabularies, 2.6M with a joint 10k vocabulary and shared, tied embeddings
        "tiny": dict(emb_size=128, heads=4, ff_size=256, encoder_layers=4, decoder_layers=4),
        # 3+3 layers, d 256, ff 1024 (11.7M): the size of the OpenNMT-py comparator in ../shared/bench/peers
        "small": dict(emb_size=256, heads=4, ff_size=1024, encoder_layers=3, decoder_layers=3),
        # the "base" Transformer of Vaswani et al.: 6+6 layers, d 512, 8 heads, ff 2048 (56.4M)
        "base": dict(emb_size=512, heads=8, ff_size=2048, encoder_layers=6, decoder_layers=6),
    },
}


def preset(arch: str, name: str) -> dict[str, Any]:
    try:
        return dict(PRESETS[arch][name])
    except KeyError:
        choices = ", ".join(PRESETS.get(arch, {}))
        raise ConfigError(f"--preset {name!r} does not exist for --arch {arch} (choose {choices})") from None
