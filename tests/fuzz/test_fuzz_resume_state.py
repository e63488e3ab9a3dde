"""A run folder's resume state with hostile fields: reading it (progress, configs, tokenizers) either
succeeds or raises the project's own error, in a child process."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.hostile import FUZZ, mutated_safetensors


@pytest.fixture(scope="module")
def resume_bytes(tiny_model_file, tmp_path_factory) -> bytes:
    import torch

    from s2s_desktop.engine.formats.checkpoint import load_model
    from s2s_desktop.engine.training.resume_state import Progress, load_resume, save_resume
    from s2s_desktop.engine.training.run_folder import RESUME_FILE

    loaded = load_model(tiny_model_file)
    model = loaded.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()
    run = tmp_path_factory.mktemp("run")
    progress = Progress(step=3, epoch=1, tokens_seen=120, elapsed=1.5, best_scores={"bleu": 1.0}, kept_steps=[3])
    save_resume(run, model, optimizer, progress, {"model": loaded.config.to_dict(), "train": {}},
                loaded.src_tok, loaded.tgt_tok)
    assert load_resume(run).progress == progress  # the unmutated file reads back
    return (run / RESUME_FILE).read_bytes()


def test_a_hostile_resume_state_is_refused_by_name(resume_bytes, isolated, tmp_path):
    child = isolated("resume")
    path = tmp_path / "run" / "resume.safetensors"
    path.parent.mkdir()

    @FUZZ
    @given(mutated_safetensors(resume_bytes, json_fields=("state",)))
    def prop(data):
        child.holds(path, data)

    prop()


@pytest.mark.parametrize("state, words", [
    ({"progress": {"step": "3"}}, "step must be int"),
    ({"progress": {"kept_steps": [None]}}, "kept_steps must be list"),
    ({"configs": []}, "configs must be a dict"),
])
def test_resume_fields_of_the_wrong_type_are_refused_on_reading(resume_bytes, tmp_path, state, words):
    """(These loaded before, and would have failed later, halfway through a resume.)"""
    import json

    from s2s_desktop.engine.training.resume_state import load_resume
    from s2s_desktop.errors import CheckpointError
    from tests.fuzz.hostile import join_safetensors, split_safetensors

    header, body = split_safetensors(resume_bytes)
    meta = json.loads(header["__metadata__"]["state"])
    for key, value in state.items():
        meta[key] = {**meta[key], **value} if isinstance(value, dict) else value
    header["__metadata__"] = {**header["__metadata__"], "state": json.dumps(meta)}
    (tmp_path / "resume.safetensors").write_bytes(join_safetensors(header, body))
    with pytest.raises(CheckpointError, match=words):
        load_resume(tmp_path)
