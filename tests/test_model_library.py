"""The model library (s2s_desktop/library.py) and the header it reads (engine/formats/model_header.py): the
four places models come from, what each file says about itself without torch, unreadable files listed
with their reason, the choice for a language pair, the settings it keeps, and `s2s translate --from --to`."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from s2s_desktop import library, paths
from s2s_desktop.cli import main
from s2s_desktop.engine.formats.model_header import read_model_header
from s2s_desktop.errors import CheckpointError
from s2s_desktop.settings import Settings, load_settings, save_settings


def save_tiny(path: Path, tokenizers, src: str, tgt: str, training: dict | None = None, half: bool = False) -> Path:
    import torch

    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    src_tok, tgt_tok = tokenizers
    torch.manual_seed(0)
    model = build_model(ModelConfig(emb_size=8, encoder_hidden=8, decoder_hidden=16,
                                    src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok)))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, model, src_tok, tgt_tok, ModelMeta(src, tgt, training=training or {}), half=half)
    return path


def safetensors_bytes(metadata: dict, data: bytes = b"") -> bytes:
    header = json.dumps({"__metadata__": metadata, **({"x": {"dtype": "U8", "shape": [len(data)],
                                                           "data_offsets": [0, len(data)]}} if data else {})}).encode()
    return struct.pack("<Q", len(header)) + header + data


@pytest.fixture
def builtin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installation's resources folder that the test fills (the real one holds one or more models)."""
    folder = tmp_path / "resources"
    (folder / "models").mkdir(parents=True)
    monkeypatch.setattr(library, "resources_dir", lambda: folder)
    return folder / "models"


# -- the header ------------------------------------------------------------------------------------


def test_the_header_says_what_loading_the_model_says(tmp_path: Path, tiny_tokenizers) -> None:
    from s2s_desktop.engine.decoding.service import Translator

    best = {"step": 40, "loss": 2.5, "ppl": 12.2, "bleu": 21.5, "chrf": 40.25}
    path = save_tiny(tmp_path / "m.s2s", tiny_tokenizers, "fr", "en", {"best": best, "steps": 40}, half=True)
    header = read_model_header(path)
    info = Translator.open(str(path), "cpu").info()
    assert (header.src_lang, header.tgt_lang) == ("fr", "en")
    assert header.parameters == info.parameters and header.file_size == info.file_size == path.stat().st_size
    assert header.model == info.model and header.arch == "rnn"
    assert header.storage == "float16" and header.best == best


def test_the_library_reads_headers_without_torch(tmp_path: Path, tiny_model_file: Path) -> None:
    settings = tmp_path / "home" / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"schema_version": 1, "recent_models": [str(tiny_model_file)]}))
    code = ("import sys; from s2s_desktop import library; from s2s_desktop.settings import load_settings; "
            "e = library.scan(load_settings()[0]); "
            "print(sum(x.header is not None for x in e), 'torch' in sys.modules, 'sentencepiece' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"S2S_DESKTOP_HOME": str(tmp_path / "home"), "PATH": ""}).stdout.split()
    assert int(out[0]) >= 1 and out[1:] == ["False", "False"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"\x80\x04\x95" + bytes(40), "pickle"),
    (b"PK\x03\x04" + bytes(40), "pickle"),
    (b"abc", "only 3 bytes"),
    (safetensors_bytes({"format": "something-else"}), "another program"),
    (safetensors_bytes({"format": "s2s-desktop-model", "format_version": "7", "meta": "{}"}), "newer s2s-desktop"),
    (safetensors_bytes({"format": "s2s-desktop-model", "format_version": "1", "meta": "{not json"}), "corrupt metadata"),
    (safetensors_bytes({"format": "s2s-desktop-model", "format_version": "1", "meta": '{"src_lang": "en"}'}),
     "corrupt metadata"),
    (struct.pack("<Q", 5000) + b'{"__metadata__": {}}', "truncated"),
    (bytes((i * 73 + 41) % 256 for i in range(512)), "not in safetensors format"),
])
def test_an_unreadable_file_gets_its_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.s2s"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=reason):
        read_model_header(path)
    entry = library.read_entry(str(path), library.OPENED)
    assert entry.header is None and reason in entry.error and str(path) in entry.error
    assert entry.pairs == () and not entry.translates("en", None)


def test_a_truncated_model_missing_file_and_folder_are_reported(tmp_path: Path, tiny_model_file: Path) -> None:
    cut = tmp_path / "cut.s2s"
    cut.write_bytes(tiny_model_file.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        read_model_header(cut)
    with pytest.raises(CheckpointError, match="not found"):
        read_model_header(tmp_path / "gone.s2s")
    with pytest.raises(CheckpointError, match="is a folder"):
        read_model_header(tmp_path)


def test_a_header_is_parsed_once_per_version_of_the_file(tmp_path: Path, tiny_model_file: Path, monkeypatch) -> None:
    calls = []
    real = library.read_model_header
    monkeypatch.setattr(library, "read_model_header", lambda path: calls.append(path) or real(path))
    path = tmp_path / "m.s2s"
    path.write_bytes(b"abc")
    assert "only 3 bytes" in library.read_entry(str(path), library.OPENED).error
    assert "only 3 bytes" in library.read_entry(str(path), library.OPENED).error and len(calls) == 1
    shutil.copy(tiny_model_file, path)  # fixed in place: read again, not the remembered reason
    entry = library.read_entry(str(path), library.OPENED)
    assert entry.header is not None and not entry.error and len(calls) == 2
    assert library.read_entry(str(path), library.OPENED).header == entry.header and len(calls) == 2
    path.write_bytes(tiny_model_file.read_bytes()[:-100])  # cut: the change is seen
    assert "truncated" in library.read_entry(str(path), library.OPENED).error and len(calls) == 3
    path.unlink()
    assert "not found" in library.read_entry(str(path), library.OPENED).error


# -- the four places -------------------------------------------------------------------------------


def test_scan_lists_every_place_once_and_keeps_the_unreadable(tmp_path, builtin_folder, tiny_model_file) -> None:
    shutil.copy(tiny_model_file, builtin_folder / "en-de-tatoeba.s2s")
    shutil.copy(tiny_model_file, builtin_folder / "de-en-tatoeba.s2s")  # a second built-in: no single one assumed
    trained = paths.runs_dir() / "run-a" / "best.s2s"
    trained.parent.mkdir(parents=True)
    shutil.copy(tiny_model_file, trained)
    imported = paths.models_dir() / "opus-mt-en-de.s2s"
    imported.parent.mkdir(parents=True)
    shutil.copy(tiny_model_file, imported)
    bad = tmp_path / "bad.s2s"
    bad.write_bytes(b"\x80\x04 pickle" * 8)
    added = shutil.copy(tiny_model_file, tmp_path / "added.s2s")
    settings = Settings(recent_models=[str(trained), str(bad), str(tmp_path / "gone.s2s")], library_added=[added])
    entries = library.scan(settings)
    by_name = {e.name: e for e in entries}
    assert [(e.name, e.source) for e in entries] == [
        ("de-en-tatoeba.s2s", library.BUILT_IN), ("en-de-tatoeba.s2s", library.BUILT_IN),
        ("run-a/best.s2s", library.TRAINED), ("opus-mt-en-de.s2s", library.IMPORTED),
        ("bad.s2s", library.OPENED), ("gone.s2s", library.OPENED), ("added.s2s", library.ADDED)]
    assert by_name["run-a/best.s2s"].recent == 0  # opened last, listed once: as trained here
    assert by_name["bad.s2s"].header is None and "pickle" in by_name["bad.s2s"].error
    assert "not found" in by_name["gone.s2s"].error
    assert by_name["opus-mt-en-de.s2s"].pair_label == "en → de" and by_name["run-a/best.s2s"].origin == "trained here"


def test_removed_models_stay_off_the_list_until_opened_again(builtin_folder, tiny_model_file) -> None:
    builtin = Path(shutil.copy(tiny_model_file, builtin_folder / "en-de.s2s"))
    settings = Settings()
    library.remove(settings, str(builtin))
    assert library.scan(settings) == [] and builtin.is_file()  # off the list, not off the disk
    library.note_opened(settings, str(builtin))
    assert [e.path for e in library.scan(settings)] == [str(builtin)]


def test_delete_only_the_apps_own_imported_copies(builtin_folder, tiny_model_file) -> None:
    own = paths.models_dir() / "imported.s2s"
    own.parent.mkdir(parents=True)
    shutil.copy(tiny_model_file, own)
    settings = Settings(recent_models=[str(own)])
    assert library.is_own_copy(str(own)) and not library.is_own_copy(str(tiny_model_file))
    with pytest.raises(ValueError, match="only taken off the list"):
        library.delete_own_copy(settings, str(tiny_model_file))
    assert tiny_model_file.is_file()
    library.delete_own_copy(settings, str(own))
    assert not own.exists() and settings.recent_models == [] and library.scan(settings) == []


# -- choosing by language pair ---------------------------------------------------------------------


def entry(name: str, src: str, tgt: str, source: str = library.OPENED, recent: int | None = None,
          targets: tuple[str, ...] = ()) -> library.LibraryEntry:
    from s2s_desktop.engine.formats.model_header import ModelHeader

    return library.LibraryEntry(name, source, ModelHeader(name, 1, src, tgt, target_languages=targets), recent=recent)


def test_choose_prefers_a_model_made_for_the_pair_then_the_last_opened_then_built_in() -> None:
    multi = entry("multi.s2s", "en", "mul", library.BUILT_IN, recent=0, targets=("de", "fr"))
    builtin = entry("builtin.s2s", "en", "de", library.BUILT_IN)
    trained = entry("trained.s2s", "en", "de", library.TRAINED)
    opened = entry("opened.s2s", "en", "de", library.OPENED, recent=3)
    broken = library.LibraryEntry("broken.s2s", library.OPENED, None, "unreadable")
    entries = [multi, builtin, trained, opened, broken]
    assert library.choose(entries, "en", "de") is opened  # the user's last choice for the pair
    assert library.choose([multi, builtin, trained], "EN", "de-DE") is builtin  # codes compare loosely
    assert library.choose(entries, "en", "fr") is multi
    assert library.choose(entries, "en", "de", exclude="opened.s2s") is builtin
    assert library.choose(entries, None, "de") is opened and library.choose(entries, "de", "en") is None
    assert "en → de (builtin.s2s, built-in)" in library.available(entries) and "broken" not in library.available(
        entries)


def test_per_pair_serves_each_pair_once_by_the_model_choose_picks() -> None:
    """`s2s serve --library`: every pair of the library, each from the model `choose` picks, no pair twice."""
    multi = entry("multi.s2s", "en", "mul", library.BUILT_IN, targets=("de", "fr", "it"))
    builtin = entry("builtin.s2s", "en", "de", library.BUILT_IN)
    opened = entry("opened.s2s", "en", "de", library.OPENED, recent=0)
    back = entry("back.s2s", "de", "en", library.TRAINED)
    broken = library.LibraryEntry("broken.s2s", library.OPENED, None, "unreadable")
    plan = library.per_pair([multi, builtin, opened, back, broken])
    assert plan == {"multi.s2s": ("fr", "it"), "opened.s2s": ("de",), "back.s2s": ("en",)}
    assert list(plan) == ["multi.s2s", "opened.s2s", "back.s2s"]  # library order
    assert library.per_pair([broken]) == {}


# -- settings --------------------------------------------------------------------------------------


def test_library_lists_round_trip_and_an_older_settings_file_still_loads() -> None:
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text(json.dumps({"schema_version": 1, "recent_models": ["/a.s2s"]}))
    old, warning = load_settings()
    assert warning is None and old.library_removed == [] and old.library_added == []
    old.library_removed, old.library_added = ["/x/best.s2s"], ["/y/mine.s2s"]
    save_settings(old)
    assert load_settings() == (old, None)


# -- s2s translate --from --to ---------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_translate_from_to_picks_the_librarys_model(capsys, builtin_folder, tiny_tokenizers) -> None:
    trained = save_tiny(paths.runs_dir() / "run-fr" / "best.s2s", tiny_tokenizers, "fr", "en")
    code, out, err = run_cli(capsys, "translate", "--from", "fr", "--to", "en", "--beam", "1", "one two")
    assert code == 0, err
    assert len(out.splitlines()) == 1 and f"using {trained}" in err and "trained here" in err


def test_translate_from_to_without_a_fitting_model_names_what_there_is(capsys, builtin_folder, tiny_model_file) -> None:
    shutil.copy(tiny_model_file, builtin_folder / "en-de-tatoeba.s2s")
    code, out, err = run_cli(capsys, "translate", "--from", "en", "--to", "fr", "hello")
    assert code == 2 and out == ""
    assert "no model in the library translates en -> fr" in err and "en → de (en-de-tatoeba.s2s, built-in)" in err
    assert "--model" in err and "Traceback" not in err


def test_model_wins_over_from_to(capsys, builtin_folder, tiny_model_file) -> None:
    code, out, err = run_cli(capsys, "translate", "--model", str(tiny_model_file), "--from", "xx", "--to", "yy",
                             "--beam", "1", "one")
    assert code == 0, err
    assert len(out.splitlines()) == 1 and "using" not in err
