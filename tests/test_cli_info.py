"""`s2s info` on files that are not models: a run's resume state is named for what it is."""

from __future__ import annotations

from pathlib import Path

import torch

from s2s_desktop.engine.formats.safetensors_io import serialize
from s2s_desktop.engine.training.resume_state import RESUME_FORMAT
from tests.test_cli import assert_usage_error, run_cli


def test_info_on_a_resume_state_says_what_it_is_and_what_to_open(capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    resume = run / "resume.safetensors"
    resume.write_bytes(b"".join(serialize({"optim.0": torch.zeros(2)}, {"format": RESUME_FORMAT, "state": "{}"})))
    msg = assert_usage_error(*run_cli(capsys, "info", "--model", str(resume)))
    assert "another program" not in msg
    assert "resume state of the training run" in msg and "--resume" in msg
    assert str(run / "best.s2s") in msg and str(run / "last.s2s") in msg


def test_info_on_a_folder_names_the_folder(capsys, tmp_path: Path) -> None:
    msg = assert_usage_error(*run_cli(capsys, "info", "--model", str(tmp_path)))
    assert "is a folder" in msg and "best.s2s" in msg
