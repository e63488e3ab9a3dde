"""Opening a run folder's files in the app: its resume state is named for what it is, with the model files
to open instead, as `s2s info` says (one check, in checkpoint.read_header, for every front end)."""

from __future__ import annotations

import pytest

from tests.gui.conftest import ENGINE_TIMEOUT


@pytest.mark.real_engine
def test_opening_a_resume_state_says_what_it_is_and_what_to_open(qtbot, make_window, tmp_path):
    import safetensors.torch
    import torch

    from s2s_desktop.engine.training.run_folder import RESUME_FILE, RESUME_FORMAT

    run = tmp_path / "my-run"
    run.mkdir()
    resume = run / RESUME_FILE
    safetensors.torch.save_file({"optim.0": torch.zeros(2)}, str(resume), metadata={"format": RESUME_FORMAT})
    window = make_window(real_engine=True)
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.open_model(str(resume))
    text = window.message_bar.text()
    assert "another program" not in text
    assert "resume state of the training run" in text and str(run.resolve() / "best.s2s") in text
