"""The architecture registry: every architecture builds and runs through the encoder/decoder protocol,
and the CLI, the presets, the recipes and the model description are the registry's."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import ModelConfig, RnnConfig, TrainConfig, TransformerConfig
from s2s_desktop.engine.config import validate, validate_model_config
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.models import registry
from s2s_desktop.engine.models.model import build_model
from s2s_desktop.engine.models.model_config import SECTIONS
from s2s_desktop.engine.models.presets import PRESETS, RECIPES, default_recipe, preset_names, recipe
from s2s_desktop.engine.models.protocol import Decoder, Encoder
from s2s_desktop.errors import ConfigError

SRC = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [15]]
TGT = [[4, 5], [6, 7, 8, 9, 10], [11, 12, 13]]
# A small model of each architecture, in the flat field names of files and flags.
TINY = {
    "rnn": dict(emb_size=12, encoder_hidden=8, decoder_hidden=16, encoder_layers=2, decoder_layers=2),
    "transformer": dict(emb_size=16, heads=2, ff_size=32, encoder_layers=2, decoder_layers=3),
}


def test_every_architecture_has_a_section_and_a_small_test_model() -> None:
    assert set(registry.names()) == set(SECTIONS) == set(TINY)
    common = {f.name for f in dataclasses.fields(ModelConfig)}
    for arch in registry.architectures():
        assert SECTIONS[arch.name] is arch.config
        own = {f.name for f in dataclasses.fields(arch.config)}
        assert not own & common, f"{arch.name}: section fields shadow common ones"


@pytest.mark.parametrize("arch", registry.names())
def test_every_architecture_builds_and_runs_through_the_protocol(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, src_vocab_size=30, tgt_vocab_size=31, dropout=0.0, **TINY[arch])).eval()
    assert isinstance(model.encoder, Encoder) and isinstance(model.decoder, Decoder)
    assert registry.implementation(arch).__name__ == registry.get(arch).module
    batch = make_batch(SRC, TGT, np.arange(3))
    b, s = batch.src.shape
    t = batch.tgt_in.shape[1]
    with torch.no_grad():
        enc = model.encode(batch.src, batch.src_lengths)
        assert enc.memory.shape[:2] == (b, s) and enc.memory.shape[2] == model.encoder.output_size
        hidden, _ = model.decode(enc, batch.tgt_in)
        assert hidden.shape == (b, t, model.decoder.output_size)
        full = torch.log_softmax(model.logits(hidden), -1)
        # One position at a time, with the beam reordering rows on the way, computes the same function.
        order = torch.tensor([2, 0, 1])
        tgt_in = batch.tgt_in
        state = model.init_state(enc)
        for step in range(t):
            log_probs, attn, state = model.step(tgt_in[:, step], state, enc)
            torch.testing.assert_close(log_probs, full[:, step], rtol=1e-4, atol=1e-5)
            assert attn.dim() == 4 and attn.shape[0] == b and attn.shape[-1] == s
            torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:-1]))
            if step == 0:
                state, enc = model.reorder_state(state, order), enc.index_select(order)
                tgt_in, full = tgt_in[order], full[order]


def test_the_cli_and_the_training_form_offer_the_registered_architectures() -> None:
    from s2s_desktop.cli import build_parser

    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    options = {a.dest: a for a in train._actions}
    assert tuple(options["arch"].choices) == registry.names()
    assert tuple(options["preset"].choices) == preset_names()
    assert list(options["recipe"].choices) == list(RECIPES)
    for arch in registry.architectures():  # every field with a help text is a flag
        for f in dataclasses.fields(arch.config):
            assert f.name in options and "--" + f.name.replace("_", "-") in options[f.name].option_strings
    choices = registry.form_choices()
    assert {arch for _, arch, _ in choices} == set(registry.names())
    assert ("RNN: LSTM + Bahdanau attention", "rnn", {"cell": "lstm", "attention": "bahdanau"}) in choices


def test_registry_presets_and_cli_parser_need_no_torch() -> None:
    code = """
        import sys
        from s2s_desktop.engine.models import presets, registry
        from s2s_desktop.cli import build_parser
        build_parser()
        print(registry.describe_model({"arch": "transformer", "heads": 2, "emb_size": 8}), presets.preset_names())
        print("TORCH", "torch" in sys.modules)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stdout and "2 heads" in proc.stdout


@pytest.mark.parametrize("arch", registry.names())
def test_every_preset_builds_a_valid_model(arch: str) -> None:
    for name, sizes in PRESETS[arch].items():
        cfg = ModelConfig(arch=arch, src_vocab_size=100, tgt_vocab_size=100, **sizes)
        validate_model_config(cfg)
        assert registry.describe_model(cfg), name


def test_recipes_are_valid_and_every_architecture_has_a_default_one(tmp_path) -> None:
    for arch in registry.names():
        assert default_recipe(arch).arch == arch
    for r in RECIPES.values():
        model = ModelConfig(arch=r.arch, **r.model_fields())
        train = TrainConfig(**{"out_dir": str(tmp_path), "src_lang": "en", "tgt_lang": "de", "train_tsv": "x.tsv",
                               **r.train})
        validate(model, train)
    with pytest.raises(ConfigError, match="--recipe 'nope'.*multi30k-rnn"):
        recipe("nope")


def test_describe_model_is_one_line_for_each_architecture() -> None:
    rnn = ModelConfig(cell="lstm", attention="bahdanau", emb_size=64, encoder_hidden=32, decoder_hidden=48,
                      encoder_layers=2)
    assert registry.describe_model(rnn) == ("RNN (LSTM, bahdanau attention), embeddings 64, encoder 2x32x2, "
                                            "decoder 1x48")
    transformer = ModelConfig(arch="transformer", emb_size=256, heads=4, ff_size=1024, encoder_layers=3,
                              decoder_layers=3, share_embeddings=True, tie_output=True)
    text = "Transformer 3+3 layers, d_model 256, 4 heads, feed-forward 1024, shared and tied embeddings"
    assert registry.describe_model(transformer) == text
    assert registry.describe_model(transformer.to_dict()) == text  # a file's metadata or an event's dict


def test_sections_keep_the_architectures_apart() -> None:
    rnn = ModelConfig(emb_size=16, encoder_hidden=16, decoder_hidden=32)
    assert rnn.rnn == RnnConfig(encoder_hidden=16, decoder_hidden=32) and rnn.transformer is None
    assert rnn.arch_config is rnn.rnn
    transformer = ModelConfig(arch="transformer", heads=2, cell="lstm")  # another architecture's field: ignored
    assert transformer.transformer == TransformerConfig(heads=2) and transformer.rnn is None
    assert "cell" not in transformer.to_dict() and transformer.to_dict()["heads"] == 2
    nested = ModelConfig(arch="rnn", rnn=RnnConfig(cell="lstm"), decoder_hidden=20)  # flat fields win
    assert nested.rnn == RnnConfig(cell="lstm", decoder_hidden=20)
    assert ModelConfig(**dataclasses.asdict(nested)) == nested == ModelConfig.from_dict(nested.to_dict())
    assert dataclasses.replace(nested, emb_size=8).rnn == nested.rnn
    with pytest.raises(TypeError, match="wings"):
        ModelConfig(wings=2)
    with pytest.raises(ConfigError, match="unknown architecture 'lstm'.*rnn"):
        ModelConfig(arch="lstm")
    with pytest.raises(ConfigError, match="rnn.wings"):
        ModelConfig.from_dict({"arch": "rnn", "rnn": {"wings": 2}})


def test_checks_per_architecture_come_from_the_registry(tmp_path) -> None:
    with pytest.raises(ConfigError, match="--attention must be one of"):
        validate_model_config(ModelConfig(attention="luong"))
    with pytest.raises(ConfigError, match="--ff-size must be at least 1"):
        validate_model_config(ModelConfig(arch="transformer", ff_size=0))
    validate_model_config(ModelConfig(heads=3))  # an RNN has no heads: another architecture's field is ignored
    train = TrainConfig(out_dir=str(tmp_path), src_lang="en", tgt_lang="de", train_tsv="x.tsv", teacher_forcing=0.5)
    validate(ModelConfig(), train)
    with pytest.raises(ConfigError, match="only available for --arch rnn"):
        validate(ModelConfig(arch="transformer", emb_size=64), train)
