"""The built-in English→German model: `s2s translate` uses it without --model, it is small and in
fp16 as documented, and it is found from an installed wheel as well as from this checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from s2s_desktop.assets import BUNDLED_MODEL, bundled_model
from s2s_desktop.cli import main

pytestmark = pytest.mark.skipif(bundled_model() is None, reason="this checkout has no built-in model")
ROOT = Path(__file__).resolve().parent.parent


def test_translate_without_model_uses_the_built_in_one(capsys):
    assert main(["translate", "Where is the train station?", "I love you."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.strip() for line in lines)
    assert "Bahnhof" in lines[0] and "liebe" in lines[1].lower()  # a real en→de model, not a stand-in


def test_built_in_model_is_documented_small_and_credited(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["src_lang"], info["tgt_lang"]) == ("en", "de")
    assert bundled_model().stat().st_size <= 25 * 2**20
    readme = (bundled_model().parent / "README.md").read_text(encoding="utf-8")
    assert "tatoeba.org and www.manythings.org/anki" in readme and "s2s train" in readme


# The model section of the first built-in model (written when a model file held every architecture's fields).
FLAT_MODEL = {"arch": "transformer", "src_vocab_size": 8000, "tgt_vocab_size": 8000, "emb_size": 256, "dropout": 0.1,
              "cell": "gru", "attention": "luong-general", "encoder_hidden": 256, "encoder_layers": 3,
              "decoder_hidden": 512, "decoder_layers": 3, "heads": 4, "ff_size": 1024, "tie_output": True,
              "share_embeddings": True}


def test_a_file_of_the_flat_format_opens_into_its_section(tmp_path):
    """The built-in model with its header rewritten as the first built-in file had it: the flat fields
    land in the Transformer section, and it translates as the current file does."""
    import struct

    from s2s_desktop.engine.api import TransformerConfig
    from s2s_desktop.engine.formats.checkpoint import load_model, read_header
    from s2s_desktop.engine.models.registry import describe_model

    header, _ = read_header(bundled_model())
    data = bundled_model().read_bytes()
    start = 8 + struct.unpack("<Q", data[:8])[0]
    meta = json.loads(header["__metadata__"]["meta"])
    meta["model"] = FLAT_MODEL
    header["__metadata__"]["meta"] = json.dumps(meta)
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    flat = tmp_path / "flat.s2s"
    flat.write_bytes(struct.pack("<Q", len(raw)) + raw + data[start:])
    cfg = load_model(flat).config
    assert cfg.transformer == TransformerConfig(heads=4, ff_size=1024, encoder_layers=3, decoder_layers=3)
    assert cfg.rnn is None and cfg.emb_size == 256 and cfg.share_embeddings and cfg.tie_output
    assert describe_model(cfg).startswith("Transformer 3+3 layers, d_model 256, 4 heads, feed-forward 1024")
    assert load_model(flat).config == load_model(bundled_model()).config


@pytest.mark.slow
def test_the_model_loads_from_an_installed_wheel(tmp_path):
    """Build the wheel, install it into a bare folder and ask that copy where its model is."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("*.whl")
    assert f"s2s_desktop/resources/{BUNDLED_MODEL}" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # what pip install does with a pure-Python wheel's files
    probe = ("import s2s_desktop, s2s_desktop.assets as a; from s2s_desktop.engine.formats.checkpoint import load_model; "
             "print(s2s_desktop.__file__); print(a.bundled_model()); load_model(a.bundled_model())")
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    package_file, model = proc.stdout.splitlines()[:2]
    assert package_file.startswith(str(target)) and model.startswith(str(target))
