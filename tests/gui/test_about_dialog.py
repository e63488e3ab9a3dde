"""Help › About names the open model's training corpus by file name only (issue 17 item 13)."""

from __future__ import annotations

from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.gui.about_dialog import AboutDialog


def test_about_shows_an_old_files_corpus_paths_as_file_names(qtbot):
    info = ModelInfo(path="/m/old.s2s", src_lang="en", tgt_lang="de",
                     training={"corpus": "/tmp/tat/train.en + /home/dev/c/train.de", "steps": 10})
    dialog = AboutDialog(info)
    qtbot.addWidget(dialog)
    text = dialog.body.toPlainText()
    assert "Trained on: train.en + train.de." in text
    assert "/tmp/tat" not in text and "/home/dev" not in text
