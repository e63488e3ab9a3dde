"""Hugging Face Marian folders with hostile fields: any value of config.json, tokenizer_config.json,
generation_config.json and vocab.json, a missing file, a SentencePiece model with a hostile field, a
weights file (safetensors or pytorch_model.bin) with a hostile header or bytes. Importing the folder and
translating with the result either works or raises the project's own error, in a child process."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.hostile import FUZZ, VALUES, _mutations, dumps, paths_of, replaced
from tests.fuzz.protobuf import mutated_sentencepiece

pytest.importorskip("transformers")
pytest_plugins = ("tests.marian_fixture",)  # marian_folder, marian_bin_folder
ADDED = ("normalize_before", "static_position_embeddings", "separate_vocabs", "target_vocab_file", "num_beams",
         "no_repeat_ngram_size", "do_sample", "additional_special_tokens", "bad_words_ids", "length_penalty",
         "decoder_vocab_size", "tie_word_embeddings", "share_encoder_decoder_embeddings", "scale_embedding")
JSON_FILES = ("config.json", "tokenizer_config.json", "generation_config.json", "vocab.json")


class Files(dict):
    """A folder's files ({name: bytes}) whose repr (in a failure report) is the change that made them."""

    what = ""

    def __repr__(self) -> str:
        return f"<folder: {self.what}>"


def files_of(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@st.composite
def mutated_folder(draw, files: dict[str, bytes]) -> Files:
    """One hostile change to a valid Marian folder's files."""
    changed, what = draw(_changes(files))
    out = Files(changed)
    out.what = what
    return out


@st.composite
def _changes(draw, files: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    files = dict(files)
    kind = draw(st.sampled_from(["json", "json", "json", "missing", "spm", "weights"]))
    if kind == "json":
        name = draw(st.sampled_from([n for n in JSON_FILES if n in files]))
        value = json.loads(files[name])
        path = draw(st.sampled_from(paths_of(value)[:200] + [("added",), ()]))
        drawn = draw(VALUES | st.sampled_from([-1, 0, 1, 2**31, 10**9, True, "swish", "<pad>", ">>deu<<"]))
        if path == ("added",) and name == "vocab.json":  # a piece added, or one renamed onto another's id
            drawn = {draw(st.text(max_size=8)): draw(st.integers(-2, len(value) + 2))}
            new = {**value, **drawn}
        elif path == ("added",):  # a field the file did not have
            drawn = {draw(st.sampled_from(ADDED) | st.text(max_size=8)): drawn}
            new = {**value, **drawn}
        else:
            new = replaced(value, path, drawn) if path else drawn
        files[name] = dumps(new).encode("utf-8", "surrogatepass")
        return files, f"{name}{list(path)} = {drawn!r}"[:600]
    if kind == "missing":
        name = draw(st.sampled_from(sorted(files)))
        del files[name]
        return files, f"{name} missing"
    if kind == "spm":
        name = draw(st.sampled_from(["source.spm", "target.spm"]))
        files[name] = draw(mutated_sentencepiece(files[name]))
        return files, f"{name}: {files[name].what}"
    name = "model.safetensors" if "model.safetensors" in files else "pytorch_model.bin"
    if name == "model.safetensors":
        files[name], what = draw(_mutations(files[name], ()))
    else:
        data = bytearray(files[name])
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[at] = draw(st.integers(0, 255))
            what = f"byte {at} set to {data[at]}"
        else:
            data, what = data[:at], f"cut at {at}"
        files[name] = bytes(data)
    return files, f"{name}: {what}"


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_a_hostile_marian_folder_is_imported_or_refused_by_name(weights, marian_folder, marian_bin_folder,
                                                                  isolated, tmp_path):
    child = isolated("marian")
    base = Files(files_of(marian_folder if weights == "safetensors" else marian_bin_folder))
    base.what = f"the {weights} fixture"
    folder = tmp_path / "work" / "opus-mt-en-de"

    def write(files: dict[str, bytes]) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)

    write(base)
    child.check(folder)
    assert child.tally["ok"] == 1  # the folder as transformers wrote it is imported

    @FUZZ
    @given(mutated_folder(base))
    def prop(mutation):
        write(mutation)
        child.check(folder)

    prop()
