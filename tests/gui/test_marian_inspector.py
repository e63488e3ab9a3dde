"""The acceptance of issue 15 item 4 with the real engine: a Marian folder shaped like OPUS-MT's
(6+6 layers x 8 heads; a small d_model keeps it cheap), built with transformers, imported through
File > Import model…, opens in the inspector with all 48 cross-attention maps usable (each one the
attention transformers itself computes is tested in tests/engine/test_marian_import.py), and its
provenance and target languages in the window."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import ENGINE_TIMEOUT, translate_and_wait

pytest.importorskip("transformers")
pytest_plugins = ("tests.marian_fixture",)


@pytest.fixture(scope="module")
def marian_6x8(tmp_path_factory, marian_corpus):
    from tests.marian_fixture import write_marian_folder

    return write_marian_folder(tmp_path_factory.mktemp("marian6x8") / "opus-mt-en-de", marian_corpus,
                               layers=6, heads=8, d_model=64, ffn=128)


@pytest.mark.real_engine
def test_an_imported_6x6_marian_model_shows_48_maps(qtbot, make_window, marian_6x8, tmp_path, monkeypatch):
    window = make_window(real_engine=True)
    window.resize(1366, 768)
    out = tmp_path / "opus-mt-en-de.s2s"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(marian_6x8))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.import_action.trigger()
    info = window.model_info
    assert info.path == str(out) and info.provenance["imported_from"] == "Hugging Face Marian"
    assert window.info_view.rows["Licence"].startswith("cc-by-4.0")
    assert window.panel.target_box.count() == 2  # the fixture's >>deu<< and >>nld<<
    qtbot.waitUntil(lambda: window.model_info.target_language == "deu", timeout=ENGINE_TIMEOUT)
    window.panel.max_ratio.setValue(0.5)  # random weights never end a sentence: keep the map short
    result = translate_and_wait(qtbot, window, "The cat sleeps.")
    cand = result.sentences[0].best
    att = np.asarray(cand.attention)
    assert att.shape[:2] == (6, 8)
    insp = window.panel.inspector
    qtbot.waitUntil(lambda: insp.grid.shape == (6, 8))
    assert insp.layer_box.count() == 6 and insp.head_box.count() == 9  # mean + 8 heads
    for layer, head in ((0, 0), (5, 7), (3, 4)):
        insp.set_layer_head(layer, head)
        np.testing.assert_allclose(insp.view.matrix, att[layer, head], atol=1e-6)
    with qtbot.waitSignal(window.client.self_attended, timeout=ENGINE_TIMEOUT):
        insp.set_kind("encoder")
    qtbot.waitUntil(lambda: insp.view is not None and insp.view.kind == "encoder")
    s = len(result.sentences[0].source_tokens)
    assert insp.view.matrix.shape == (s, s) and insp.grid.shape == (6, 8)
    # File > Export…, both formats, from the imported model (CTranslate2's own converter writes them).
    pytest.importorskip("ctranslate2")
    for to, dest in (("ctranslate2", tmp_path / "ct2"), ("argos", tmp_path / "opus.argosmodel")):
        with qtbot.waitSignal(window.client.converted, timeout=ENGINE_TIMEOUT):
            window.transfer.start_export(window.model_info, to, str(dest))
        assert dest.exists(), window.message_bar.text()
    assert (tmp_path / "ct2" / "model.bin").is_file()
