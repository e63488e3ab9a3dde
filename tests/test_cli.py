"""Tests for the `s2s` command line: output formats, stdin, and one-line errors with status 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from s2s_desktop.cli import main
from s2s_desktop.engine.formats.checkpoint import load_model

JSON_KEYS = {"text", "score", "tokens", "token_probs", "source_tokens", "attention", "nbest", "truncated"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(code: int, out: str, err: str) -> str:
    """Status 2, nothing on stdout, exactly one `s2s: error:` line on stderr; returns the message."""
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("s2s: error: ")
    return lines[0]


@pytest.fixture
def bad_model(tmp_path: Path) -> Path:
    path = tmp_path / "random.s2s"
    path.write_bytes(b"\x13" + bytes((i * 73 + 41) % 256 for i in range(2047)))
    return path


# --------------------------------------------------------------------------- info


def test_info_text(capsys, tiny_model_file: Path) -> None:
    code, out, err = run_cli(capsys, "info", "--model", str(tiny_model_file))
    assert code == 0, err
    assert err == ""
    params = load_model(tiny_model_file).model.num_parameters()
    assert "en -> de" in out
    assert f"{params:,}" in out
    assert str(tiny_model_file) in out


def test_info_json(capsys, tiny_model_file: Path) -> None:
    code, out, err = run_cli(capsys, "info", "--model", str(tiny_model_file), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert {"src_lang", "tgt_lang", "parameters"} <= info.keys()
    assert (info["src_lang"], info["tgt_lang"]) == ("en", "de")
    assert info["parameters"] == load_model(tiny_model_file).model.num_parameters()
    assert info["model"]["decoder_hidden"] == 32
    assert info["file_size"] == tiny_model_file.stat().st_size


# --------------------------------------------------------------------------- translate


def test_translate_arguments(capsys, tiny_model_file: Path) -> None:
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file), "one two", "three four five")
    assert code == 0, err
    assert out.endswith("\n")
    assert len(out.splitlines()) == 2


def test_translate_json(capsys, tiny_model_file: Path) -> None:
    code, out, err = run_cli(
        capsys, "translate", "--model", str(tiny_model_file), "--json", "--beam", "2", "one two", "six"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    for line, source in zip(lines, ["one two", "six"]):
        r = json.loads(line)
        assert JSON_KEYS <= r.keys()
        assert r["source"] == source
        assert r["truncated"] is False
        assert isinstance(r["score"], float)
        assert len(r["token_probs"]) == len(r["tokens"]) > 0
        assert all(0.0 <= p <= 1.0 for p in r["token_probs"])
        assert r["source_tokens"][-1] == "</s>"
        assert len(r["nbest"]) == 1 and r["nbest"][0]["text"] == r["text"]
        att = r["attention"]  # [layers][heads][target][source]
        assert len(att) >= 1 and all(len(layer) >= 1 for layer in att)
        for layer in att:
            for head in layer:
                assert len(head) == len(r["tokens"])
                for row in head:
                    assert len(row) == len(r["source_tokens"])
                    assert sum(row) == pytest.approx(1.0, abs=1e-3)


def test_translate_nbest_lines(capsys, tiny_model_file: Path) -> None:
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file), "--beam", "3", "--nbest", "2", "one")
    assert code == 0, err
    blocks = out.split("\n\n")
    assert blocks[-1] == ""  # each input's block ends with an empty line
    entries = blocks[0].splitlines()
    assert len(entries) == 2
    scores = [float(e.split("\t")[0]) for e in entries]
    assert scores == sorted(scores, reverse=True)


def test_translate_reads_stdin(capsys, monkeypatch, tiny_model_file: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("one two\nthree\nfour five six\n"))
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file))
    assert code == 0, err
    assert out.endswith("\n")
    assert len(out.splitlines()) == 3


def test_translate_stdin_empty_line_keeps_alignment(capsys, monkeypatch, tiny_model_file: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("one two\n\nthree\n"))
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1] == ""
    assert lines[0] and lines[2]  # the tiny model always emits something for real input

    monkeypatch.setattr(sys, "stdin", io.StringIO("one two\n\nthree\n"))
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file), "--json")
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["source"] for r in results] == ["one two", "", "three"]
    assert results[1]["text"] == "" and results[1]["tokens"] == []


# --------------------------------------------------------------------------- usage errors


def test_translate_missing_model(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "missing.s2s"
    msg = assert_usage_error(*run_cli(capsys, "translate", "--model", str(missing), "one"))
    assert "not found" in msg and str(missing) in msg


def test_translate_random_bytes_model(capsys, bad_model: Path) -> None:
    msg = assert_usage_error(*run_cli(capsys, "translate", "--model", str(bad_model), "one"))
    assert "not an s2s-desktop model file" in msg


def test_info_random_bytes_model(capsys, bad_model: Path) -> None:
    msg = assert_usage_error(*run_cli(capsys, "info", "--model", str(bad_model)))
    assert str(bad_model) in msg


def test_translate_beam_zero(capsys, tiny_model_file: Path) -> None:
    msg = assert_usage_error(*run_cli(capsys, "translate", "--model", str(tiny_model_file), "--beam", "0", "one"))
    assert "--beam" in msg


def test_translate_nbest_above_beam(capsys, tiny_model_file: Path) -> None:
    msg = assert_usage_error(
        *run_cli(capsys, "translate", "--model", str(tiny_model_file), "--nbest", "3", "--beam", "2", "one")
    )
    assert "--nbest" in msg and "--beam" in msg


def test_evaluate_line_count_mismatch(capsys, tmp_path: Path, tiny_model_file: Path) -> None:
    src = tmp_path / "test.en"
    ref = tmp_path / "test.de"
    src.write_text("one\ntwo\nthree\n", encoding="utf-8")
    ref.write_text("eins\nzwei\n", encoding="utf-8")
    msg = assert_usage_error(
        *run_cli(capsys, "evaluate", "--model", str(tiny_model_file), "--src", str(src), "--ref", str(ref))
    )
    assert str(src) in msg and str(ref) in msg
    assert "3" in msg and "2" in msg


def test_evaluate_reports_the_metrics_of_the_registry(capsys, tmp_path: Path, tiny_model_file: Path) -> None:
    from s2s_desktop.engine import metrics

    src, ref = tmp_path / "test.en", tmp_path / "test.de"
    src.write_text("one two\nthree\n", encoding="utf-8")
    ref.write_text("eins zwei\ndrei\n", encoding="utf-8")
    base = ["evaluate", "--model", str(tiny_model_file), "--src", str(src), "--ref", str(ref), "--beam", "1"]
    code, out, _ = run_cli(capsys, *base, "--json")
    result = json.loads(out)
    available = [m.name for m in metrics.METRICS.values() if m.available]
    assert code == 0 and [k for k in result if k in metrics.METRICS] == available
    assert {f"{name}_signature" for name in available} | {"bleu_detail"} <= result.keys()
    code, out, _ = run_cli(capsys, *base, "--metrics", "chrf")
    assert code == 0 and out.startswith("chrF = ") and "BLEU" not in out
    msg = assert_usage_error(*run_cli(capsys, *base, "--metrics", "bleu,meteor"))
    assert "--metrics" in msg and "meteor" in msg


def _train_args(out_dir: Path, *extra: str) -> list[str]:
    return ["train", "--src-lang", "en", "--tgt-lang", "de", "--out", str(out_dir), "--max-steps", "1", *extra]


def test_train_missing_corpus(capsys, tmp_path: Path) -> None:
    corpus = tmp_path / "nope.tsv"
    msg = assert_usage_error(*run_cli(capsys, *_train_args(tmp_path / "run", "--train", str(corpus))))
    assert str(corpus) in msg and "not found" in msg
    assert not (tmp_path / "run" / "best.s2s").exists()


def test_train_tsv_and_src_together(capsys, tmp_path: Path) -> None:
    tsv = tmp_path / "train.tsv"
    tsv.write_text("one\teins\n", encoding="utf-8")
    src = tmp_path / "train.en"
    src.write_text("one\n", encoding="utf-8")
    msg = assert_usage_error(
        *run_cli(capsys, *_train_args(tmp_path / "run", "--train", str(tsv), "--train-src", str(src)))
    )
    assert "--train" in msg and "--train-src" in msg


def test_train_into_existing_run(capsys, tmp_path: Path) -> None:
    tsv = tmp_path / "train.tsv"
    tsv.write_text("one\teins\ntwo\tzwei\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "best.s2s").write_bytes(b"previous model")
    msg = assert_usage_error(*run_cli(capsys, *_train_args(run_dir, "--train", str(tsv))))
    assert "--resume" in msg and str(run_dir) in msg
    assert (run_dir / "best.s2s").read_bytes() == b"previous model"


# --------------------------------------------------------------------------- a real process


def test_module_entry_point_bad_model_no_traceback(tmp_path: Path, bad_model: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "s2s_desktop", "info", "--model", str(bad_model)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("s2s: error: ")
    assert proc.stdout == ""


def test_unwritable_output_is_a_one_line_error(tiny_model_file, tmp_path, capsys):
    from s2s_desktop.cli import main

    target = tmp_path / "missing-folder" / "out.txt"
    src = tmp_path / "in.txt"
    src.write_text("one two\n", encoding="utf-8")
    code = main(["translate", "--model", str(tiny_model_file), "--input", str(src), "--output", str(target), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("s2s: error: ") and "out.txt" in err and "Traceback" not in err


# --------------------------------------------------------------------------- distributed training flags


@pytest.mark.parametrize(("flags", "named"), [
    (["--nproc-per-node", "0"], "--nproc-per-node"),
    (["--node-rank", "1"], "--node-rank"),
    (["--nnodes", "2", "--node-rank", "2"], "--node-rank"),
    (["--nproc-per-node", "2", "--lr", "0"], "--lr"),  # checked once, before any process starts
])
def test_train_bad_distributed_options(capsys, tmp_path: Path, flags: list[str], named: str) -> None:
    tsv = tmp_path / "train.tsv"
    tsv.write_text("one\teins\ntwo\tzwei\n", encoding="utf-8")
    msg = assert_usage_error(*run_cli(capsys, *_train_args(tmp_path / "run", "--train", str(tsv), *flags)))
    assert named in msg
    assert not (tmp_path / "run").exists()


def test_train_under_torchrun_rejects_a_different_process_count(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    tsv = tmp_path / "train.tsv"
    tsv.write_text("one\teins\n", encoding="utf-8")
    msg = assert_usage_error(*run_cli(capsys, *_train_args(tmp_path / "run", "--train", str(tsv),
                                                           "--nproc-per-node", "4")))
    assert "--nproc-per-node 4" in msg and "2" in msg


def _configs():
    from s2s_desktop.engine.api import ModelConfig, TrainConfig
    from s2s_desktop.engine.models.presets import preset

    model = ModelConfig(arch="transformer", dropout=0.3, share_embeddings=True, tie_output=True,
                        **preset("transformer", "tiny"))
    train = TrainConfig(out_dir="/tmp/run", src_lang="en", tgt_lang="de", train_tsv="pairs.tsv", joint_vocab=True,
                        lr=0.005, schedule="inverse-sqrt", warmup_steps=1000, max_steps=300, valid_every=50,
                        device="cpu", early_stopping="chrf", label_smoothing=0.2)
    return model, train


def test_train_config_file_rebuilds_the_same_configs(tmp_path: Path) -> None:
    """The app starts distributed runs as `s2s train --config RUN/config.json`: the file must mean the
    same configs, and only the options given override its fields."""
    import dataclasses

    from s2s_desktop.cli import build_parser
    from s2s_desktop.cli.train import train_configs
    from s2s_desktop.engine.config import run_config, write_run_config

    model, train = _configs()
    path = tmp_path / "config.json"
    write_run_config(path, run_config(model, train, processes=2))
    model2, train2 = train_configs(build_parser().parse_args(["train", "--config", str(path)]))
    assert model2 == model and train2 == train
    args = build_parser().parse_args(["train", "--config", str(path), "--out", str(tmp_path / "other"), "--lr", "0.002",
                                      "--heads", "2", "--no-tie-output"])
    model3, train3 = train_configs(args)
    assert model3 == dataclasses.replace(model, heads=2, tie_output=False)
    assert train3 == dataclasses.replace(train, out_dir=str(tmp_path / "other"), lr=0.002)


@pytest.mark.parametrize(("content", "named"), [
    ("{not json", "not valid JSON"),
    ('{"train": {"lr": "fast"}}', "train.lr"),
    ('{"train": {"max_steps": 1.5}}', "train.max_steps"),
    ('{"model": {"emb_sise": 64}}', "emb_sise"),
    ('{"modle": {}}', "modle"),
    ('{"train": []}', "train"),
    ('{"train": {"lr": 0}}', "--lr"),
])
def test_train_bad_config_file_is_named(capsys, tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content, encoding="utf-8")
    msg = assert_usage_error(*run_cli(capsys, *_train_args(tmp_path / "run", "--train", "pairs.tsv",
                                                           "--config", str(path))))
    assert str(path) in msg and named in msg
    assert not (tmp_path / "run").exists()


def test_train_config_file_missing_and_out_required(capsys, tmp_path: Path) -> None:
    msg = assert_usage_error(*run_cli(capsys, "train", "--config", str(tmp_path / "nope.json")))
    assert str(tmp_path / "nope.json") in msg
    msg = assert_usage_error(*run_cli(capsys, "train", "--src-lang", "en", "--tgt-lang", "de", "--train", "x.tsv"))
    assert "--out" in msg
