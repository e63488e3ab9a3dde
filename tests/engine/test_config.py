"""`config.validate` holds every check of a run's configs; config.json reads back what was written."""

from __future__ import annotations

import dataclasses

import pytest

from s2s_desktop.engine.api import ModelConfig, TrainConfig
from s2s_desktop.engine.config import read_run_config, run_config, validate, write_run_config
from s2s_desktop.errors import ConfigError

TRAIN = TrainConfig(out_dir="run", src_lang="en", tgt_lang="de", train_tsv="pairs.tsv")


@pytest.mark.parametrize(("model", "train", "named"), [
    ({"share_embeddings": True}, {}, "--joint-vocab"),
    ({"arch": "transformer", "emb_size": 64, "heads": 4}, {"teacher_forcing": 0.5}, "--teacher-forcing"),
    ({}, {"schedule": "inverse-sqrt"}, "--warmup-steps"),
    ({}, {"schedule": "cosine", "max_steps": 10, "warmup_steps": 10}, "--max-steps"),
    ({}, {"train_src": "a.en"}, "--train-src"),
    ({}, {"valid_tsv": "v.tsv", "valid_src": "v.en", "valid_tgt": "v.de"}, "--valid"),
    ({}, {"early_stopping": "accuracy"}, "--early-stopping"),
    ({"attention": "luong-dot", "encoder_hidden": 8, "decoder_hidden": 20}, {}, "--decoder-hidden"),
])
def test_validate_names_the_option(model, train, named):
    with pytest.raises(ConfigError, match=named):
        validate(ModelConfig(**model), dataclasses.replace(TRAIN, **train))


def test_validate_accepts_consistent_configs():
    validate(ModelConfig(share_embeddings=True), dataclasses.replace(TRAIN, joint_vocab=True))
    validate(ModelConfig(arch="transformer", emb_size=64, heads=4), dataclasses.replace(TRAIN, warmup_steps=10,
                                                                                      schedule="inverse-sqrt"))


def test_config_json_round_trips(tmp_path):
    model, train = ModelConfig(arch="transformer", emb_size=64), dataclasses.replace(TRAIN, max_steps=5)
    path = tmp_path / "config.json"
    write_run_config(path, run_config(model, train, processes=2))
    model_fields, train_fields = read_run_config(path)
    assert ModelConfig.from_dict(model_fields) == model and TrainConfig.from_dict(train_fields) == train


@pytest.mark.parametrize(("text", "named"), [
    ("[]", "expected an object"),
    ('{"train": {"joint_vocab": 1}}', "train.joint_vocab must be true or false"),
    ('{"train": {"threads": "two"}}', "train.threads must be a whole number or null"),
    ('{"model": {"emb_size": true}}', "model.emb_size must be a whole number"),
    ('{"extra": 1}', "unknown field(s) extra"),
])
def test_a_bad_config_json_names_the_file_and_field(tmp_path, text, named):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_run_config(path)
    assert str(path) in str(info.value) and named in str(info.value)
