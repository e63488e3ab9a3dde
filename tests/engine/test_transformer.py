"""Transformer: cached decoding equals recomputation, attention shapes, padding, learning, averaging."""

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import DecodeOptions, Finished, ModelConfig, TrainConfig
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.checkpoint import ModelMeta, average_models, load_model, save_model
from s2s_desktop.engine.models.model import build_model, sequence_loss
from s2s_desktop.engine.models.presets import PRESETS
from s2s_desktop.engine.models.protocol import Encoded
from s2s_desktop.engine.models.transformer import SearchState, TransformerState
from s2s_desktop.engine.training.loop import train
from s2s_desktop.errors import CheckpointError, ConfigError

SRC = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]]
TGT = [[4, 5], [6, 7, 8, 9, 10], [11, 12, 13]]


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(arch="transformer", src_vocab_size=30, tgt_vocab_size=31, emb_size=32, heads=4, ff_size=64,
               encoder_layers=2, decoder_layers=3, dropout=0.0)
    cfg.update(kw)
    return build_model(ModelConfig(**cfg)).eval()


# The variants an imported Marian model uses (post-norm, SiLU, Marian's sinusoids, no final LayerNorm, ...)
VARIANTS = [
    {},
    dict(norm_position="post", final_norm=False, activation="silu", position_layout="concatenated"),
    dict(activation="gelu_tanh", scale_embedding=False, final_norm=False),
    dict(norm_position="post", activation="gelu"),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())) or "default")
def test_cached_incremental_decoding_equals_full_recompute(variant):
    model = tiny(**variant)
    batch = make_batch(SRC, TGT, np.arange(3))
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        hidden, (cross, self_attn) = model.decode(enc, batch.tgt_in, need_weights=True)
        full = torch.log_softmax(model.logits(hidden), -1)
        state = model.init_state(enc)  # search's prepared path
        assert isinstance(state, SearchState)
        for t in range(batch.tgt_in.shape[1]):
            log_probs, attn, state = model.step(batch.tgt_in[:, t], state, enc)
            torch.testing.assert_close(log_probs, full[:, t], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(attn, cross[:, :, :, t], rtol=1e-4, atol=1e-6)
            assert state.position == t + 1 and state.cache.keys[0].shape[2] == t + 1


def test_the_search_path_steps_and_reorders_like_the_reference_path():
    """Search's prepared weights, fused projections and cache (transformer_infer.py) against
    the plain modules stepping with gradients on (TransformerState, concatenated caches), through a
    beam-style reorder that duplicates and drops rows; without weights asked for, no attention."""
    model = tiny()
    batch = make_batch(SRC, TGT, np.arange(3))
    order = torch.tensor([2, 2, 0])
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
    with torch.enable_grad():  # the reference path
        ref_enc = Encoded(enc.memory, enc.src_mask, enc.final, tuple(
            t for layer in model.decoder.layers for t in layer.cross_attn.kv(enc.memory)))
        ref = model.init_state(ref_enc)
        assert isinstance(ref, TransformerState)
    with torch.no_grad():
        fast = model.init_state(enc, need_weights=False)
    for t in range(batch.tgt_in.shape[1]):
        with torch.enable_grad():
            want, want_attn, ref = model.step(batch.tgt_in[:, t], ref, ref_enc)
        with torch.no_grad():
            got, got_attn, fast = model.step(batch.tgt_in[:, t], fast, enc)
        torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-5)
        assert got_attn is None and want_attn is not None
        if t == 1:  # rows 2, 2, 0 go on
            ref, fast = model.reorder_state(ref, order), model.reorder_state(fast, order)
            ref_enc, enc = ref_enc.index_select(order), enc.index_select(order)


def test_beams_sharing_one_copy_of_the_source_step_like_repeated_rows():
    """Search's cross-attention over one copy of each source for its K beams (Encoded.beams) against
    the source repeated K times, through in-sentence beam reorders and a sentence leaving the batch:
    the same log-probabilities and cross-attention weights, row for row."""
    model = tiny()
    k = 3
    batch = make_batch(SRC, TGT, np.arange(3))
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        shared, repeated = model.for_beams(enc, k), enc.expand(k, share=False)
        assert shared.beams == k and shared.memory.shape[0] == 3 and repeated.memory.shape[0] == 3 * k
        a, b = model.init_state(shared), model.init_state(repeated)
        prev = torch.arange(4, 4 + 3 * k)
        for t in range(4):
            got, got_attn, a = model.step(prev, a, shared)
            want, want_attn, b = model.step(prev, b, repeated)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(got_attn, want_attn, rtol=1e-5, atol=1e-7)
            if t == 1:  # beams reordered within each sentence: (2, 2, 0), (1, 0, 0), (2, 1, 1)
                rows = torch.tensor([2, 2, 0, 4, 3, 3, 8, 7, 7])
            elif t == 2:  # sentence 1 is done: its beams leave
                rows = torch.tensor([0, 1, 2, 6, 7, 8])
                shared, repeated = shared.index_select(rows), repeated.index_select(rows)
                assert shared.memory.shape[0] == 2
            else:
                rows = torch.arange(prev.shape[0]).view(-1, k).flip(1).reshape(-1)  # each sentence's beams reversed
            a, b = model.reorder_state(a, rows), model.reorder_state(b, rows)
            prev = got.argmax(-1).index_select(0, rows)


def test_attention_shapes_rows_and_padding():
    model = tiny()
    batch = make_batch(SRC, TGT, np.arange(3))
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        _, (cross, self_attn) = model.decode(enc, batch.tgt_in, need_weights=True)
        enc_attn = model.encoder_attention(batch.src)
    b, s = batch.src.shape
    t = batch.tgt_in.shape[1]
    assert cross.shape == (b, 3, 4, t, s) and self_attn.shape == (b, 3, 4, t, t) and enc_attn.shape == (b, 2, 4, s, s)
    torch.testing.assert_close(cross.sum(-1), torch.ones(b, 3, 4, t))
    pad = batch.src == 0
    assert torch.all(cross.masked_select(pad[:, None, None, None, :].expand_as(cross)) == 0)
    assert torch.all(self_attn.triu(1) == 0)  # causal: no attention to later target positions
    # fused (training) and explicit (inspection) attention compute the same function
    with torch.no_grad():
        fused, _ = model.decode(enc, batch.tgt_in)
        explicit, _ = model.decode(enc, batch.tgt_in, need_weights=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-4, atol=1e-5)


def test_padding_changes_nothing():
    model = tiny()
    alone = make_batch(SRC[:1], TGT[:1], np.array([0]))
    together = make_batch(SRC, TGT, np.arange(3))
    with torch.no_grad():
        loss_alone, _ = sequence_loss(model, alone, 0.1)
        loss_rest, _ = sequence_loss(model, make_batch(SRC[1:], TGT[1:], np.arange(2)), 0.1)
        loss_all, _ = sequence_loss(model, together, 0.1)
    torch.testing.assert_close(loss_all, loss_alone + loss_rest, rtol=1e-5, atol=1e-4)


def test_shared_and_tied_embeddings_are_one_matrix():
    model = tiny(src_vocab_size=31, share_embeddings=True, tie_output=True)
    assert sum("embed" in name for name in model.state_dict()) == 1
    assert model.output is None and model.pre_output is None


def test_bad_transformer_config_is_named():
    from s2s_desktop.engine.config import validate_model_config

    with pytest.raises(ConfigError, match="--heads"):
        validate_model_config(ModelConfig(arch="transformer", emb_size=30, heads=4))


@pytest.mark.parametrize("arch", ["rnn", "transformer"])
def test_presets_build(arch):
    for sizes in PRESETS[arch].values():
        model = build_model(ModelConfig(arch=arch, src_vocab_size=100, tgt_vocab_size=100, **sizes))
        assert model.num_parameters() > 0


@pytest.mark.slow
def test_reverse_task_is_learned_and_averaging_works(tmp_path):
    import random

    rng = random.Random(3)
    words = "zero one two three four five six seven eight nine".split()
    lines = []
    for _ in range(3000):
        w = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        lines.append(f"{' '.join(w)}\t{' '.join(reversed(w))}\n")
    (tmp_path / "r.tsv").write_text("".join(lines), encoding="utf-8")
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), src_lang="a", tgt_lang="b", train_tsv=str(tmp_path / "r.tsv"),
                      valid_size=100, vocab_size=60, batch_tokens=400, lr=3e-3, warmup_steps=100,
                      schedule="inverse-sqrt", max_steps=600, valid_every=200, keep_last=2, threads=2)
    model = ModelConfig(arch="transformer", emb_size=64, heads=4, ff_size=128, encoder_layers=2, decoder_layers=2,
                        dropout=0.1)
    events = list(train(model, cfg))
    assert isinstance(events[-1], Finished), events[-1]
    tests = []
    for _ in range(200):
        w = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        tests.append((" ".join(w), " ".join(reversed(w))))
    translator = Translator.open(events[-1].best_path, "cpu")
    out = translator.translate([s for s, _ in tests], DecodeOptions(beam=4))
    assert sum(o.text == r for o, (_, r) in zip(out, tests)) / len(tests) >= 0.9
    assert out[0].best.attention.shape[:2] == (2, 4)  # layers x heads for every decoded token
    steps = sorted((tmp_path / "run").glob("step-*.s2s"))
    assert [p.name for p in steps] == ["step-0000400.s2s", "step-0000600.s2s"]
    averaged = average_models(steps, tmp_path / "avg.s2s")
    a, b = (load_model(p).model.state_dict() for p in steps)
    key = "decoder.layers.0.ff.0.weight"
    torch.testing.assert_close(averaged.model.state_dict()[key], (a[key] + b[key]) / 2)


def test_averaging_refuses_different_runs(tmp_path, tiny_model_file, tiny_tokenizers):
    src_tok, tgt_tok = tiny_tokenizers
    other = build_model(ModelConfig(emb_size=8, encoder_hidden=8, decoder_hidden=16, src_vocab_size=len(src_tok),
                                    tgt_vocab_size=len(tgt_tok)))
    save_model(tmp_path / "other.s2s", other, src_tok, tgt_tok, ModelMeta("en", "de"))
    with pytest.raises(CheckpointError, match="different model config"):
        average_models([tiny_model_file, tmp_path / "other.s2s"], tmp_path / "avg.s2s")


def test_one_model_with_half_is_a_float16_conversion(tmp_path, tiny_model_file):
    converted = average_models([tiny_model_file], tmp_path / "half.s2s", half=True)
    original = load_model(tiny_model_file).model.state_dict()
    reloaded = load_model(tmp_path / "half.s2s").model.state_dict()
    key = next(iter(original))
    torch.testing.assert_close(reloaded[key], original[key].half().float())
    assert (tmp_path / "half.s2s").stat().st_size < tiny_model_file.stat().st_size
    assert converted.model.num_parameters() == load_model(tiny_model_file).model.num_parameters()
    with pytest.raises(CheckpointError, match="at least two"):
        average_models([tiny_model_file], tmp_path / "avg.s2s")  # averaging one model is a mistake


def test_variants_default_to_the_models_trained_here():
    """A config written before the variants existed builds today's model: same weights for a seed."""

    from s2s_desktop.engine.api import TransformerConfig

    old = ModelConfig.from_dict({"arch": "transformer", "emb_size": 32, "heads": 4, "ff_size": 64})
    t = old.transformer
    assert (t.norm_position, t.final_norm, t.activation, t.position_layout, t.scale_embedding) == (
        "pre", True, "relu", "interleaved", True)
    explicit = ModelConfig(arch="transformer", emb_size=32, transformer=TransformerConfig(heads=4, ff_size=64))
    assert old == explicit and set(old.to_dict()) == {"arch", "src_vocab_size", "tgt_vocab_size", "emb_size",
                                                      "dropout", "tie_output", "share_embeddings", "heads",
                                                      "ff_size", "encoder_layers", "decoder_layers"}
    post = ModelConfig(arch="transformer", norm_position="post", scale_embedding=False)
    assert post.to_dict()["norm_position"] == "post" and post.to_dict()["scale_embedding"] is False
    assert "activation" not in post.to_dict() and ModelConfig.from_dict(post.to_dict()) == post
    a, b = tiny(), tiny(norm_position="pre", activation="relu")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert isinstance(a.encoder.layers[0].ff[1], torch.nn.ReLU) and a.encoder.input.scale == 32**0.5
    variant = tiny(final_norm=False, activation="silu", scale_embedding=False)
    assert not any(k.startswith(("encoder.norm", "decoder.norm")) for k in variant.state_dict())
    assert set(variant.state_dict()) | {"encoder.norm.weight", "encoder.norm.bias", "decoder.norm.weight",
                                        "decoder.norm.bias"} == set(a.state_dict())
    assert isinstance(variant.decoder.layers[0].ff[1], torch.nn.SiLU) and variant.decoder.input.scale == 1.0
    with pytest.raises(ConfigError, match="activation"):
        tiny(activation="tanh")


def test_concatenated_positions_are_marians():
    from s2s_desktop.engine.formats.marian_weights import marian_sinusoids
    from s2s_desktop.engine.models.transformer import concatenated_positions, sinusoidal_positions

    for length, dim in ((300, 32), (5, 7)):
        assert np.array_equal(concatenated_positions(length, dim).numpy(), marian_sinusoids(length, dim))
    table = sinusoidal_positions(4, 6)
    assert table[1, 0] == pytest.approx(np.sin(1.0)) and table[1, 1] == pytest.approx(np.cos(1.0))
    model = tiny(position_layout="concatenated")
    ids = torch.full((1, 300), 5)  # longer than the first table: it grows in the same layout
    x = model.encoder.input(model.src_embed, ids)
    torch.testing.assert_close(x[0] - x[0, :1] + model.encoder.input.positions[:1], model.encoder.input.positions[:300])
