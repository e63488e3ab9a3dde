"""Attributions in the inspector (issue 21, item 1): a method chosen beside the attention kinds is asked
of the engine once per hypothesis, drawn like the cross-attention, and explained by a one-line hint."""

from __future__ import annotations

import numpy as np
import pytest

from s2s_desktop.errors import InputError
from s2s_desktop.gui.attention_math import (
    ATTRIBUTIONS,
    CROSS,
    DECODER,
    ENCODER,
    INPUT_X_GRADIENT,
    INTEGRATED_GRADIENTS,
    KIND_HINTS,
    MEAN_OF_HEADS,
    ONE_HEAD_HINT,
    ROLLOUT,
)
from tests.gui.conftest import ENGINE_TIMEOUT, open_model, translate_and_wait
from tests.gui.fake_engine import FakeTranslator, write_fake_model


def test_each_attribution_is_asked_once_and_shown_as_a_map(qtbot, make_window, fake_transformer_file):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three four").sentences[0]
    assert insp.picker.offered() == [CROSS, ENCODER, DECODER, *ATTRIBUTIONS]
    FakeTranslator.explained.clear()
    for method in ATTRIBUTIONS:
        with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT):
            insp.set_kind(method)
        qtbot.waitUntil(lambda m=method: insp.view is not None and insp.view.kind == m)
        rows, cols = len(t.best.tokens), len(t.source_tokens)
        assert insp.view.matrix.shape == (rows, cols) and insp.view.source_labels == t.source_tokens
        np.testing.assert_allclose(insp.view.matrix.sum(axis=1), 1.0, atol=1e-5)
        assert [int(r.argmax()) for r in insp.view.matrix] == [max(cols - 2 - r, 0) for r in range(rows)]
        assert insp.hint_label.text() == KIND_HINTS[method]
        assert not insp.grid.isVisibleTo(window)  # one map: no layers and heads to pick
        insp.select_row(0)  # an output token: the source words it drew on are shaded
        assert window.panel.link.shaded_source()
    assert [m for m, _ in FakeTranslator.explained] == list(ATTRIBUTIONS)
    insp.set_kind(CROSS)
    insp.set_layer_head(0, 1)
    assert insp.hint_label.text() == ONE_HEAD_HINT  # one head of the cross-attention: not an alignment
    insp.set_layer_head(0, MEAN_OF_HEADS)
    insp.set_kind(INPUT_X_GRADIENT)  # the same hypothesis again: kept, not asked again
    assert insp.view.kind == INPUT_X_GRADIENT and len(FakeTranslator.explained) == len(ATTRIBUTIONS)


def test_a_failed_attribution_is_said_where_the_map_would_be(qtbot, make_window, fake_transformer_file, monkeypatch):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two")

    def broken(self, *args, **kwargs):
        raise InputError("the gradients are not finite")

    monkeypatch.setattr(FakeTranslator, "explain", broken)
    insp.set_kind(INTEGRATED_GRADIENTS)
    qtbot.waitUntil(lambda: "could not be computed" in insp.selected_label.text(), timeout=ENGINE_TIMEOUT)
    assert "attribution could not be computed: the gradients are not finite" in insp.selected_label.text()
    assert window.message_bar.text() == ""  # not a banner: the map's own place says it
    assert ROLLOUT in insp.picker.offered()
    monkeypatch.undo()  # fixed: shown again, it is asked again (a failed request is not left as asked)
    insp.set_kind(CROSS)
    with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT):
        insp.set_kind(INTEGRATED_GRADIENTS)


def test_the_word_alignment_exports_as_pharaoh_links(qtbot, make_window, tmp_path):
    """The fake model's attention peaks on the source word each output word reverses; the export reads it
    (an RNN: argmax, the row that predicts each word) as one line of links per sentence."""
    window = make_window()
    open_model(qtbot, window, write_fake_model(tmp_path / "rnn.s2s", arch="rnn"))
    insp = window.panel.inspector
    result = translate_and_wait(qtbot, window, "one two three\nfour five")
    out = tmp_path / "align.txt"
    insp.export_alignment(str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(result.sentences) == 2
    for line, t in zip(lines, result.sentences):
        n_src, n_tgt = len(t.source.split()), len(t.best.text.split())
        links = {tuple(map(int, link.split("-"))) for link in line.split()}
        assert n_src == n_tgt and links == {(n_src - 1 - j, j) for j in range(n_tgt)}
    with pytest.raises(OSError):
        insp.export_alignment(str(tmp_path))  # a folder: named by the OS error, which the menu shows


def test_the_beam_tree_tab_shows_the_search_and_a_click_decodes_from_a_node(qtbot, make_window, fake_model_file):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    panel = window.panel
    translate_and_wait(qtbot, window, "one two three")
    with qtbot.waitSignal(window.client.tree_ready, timeout=ENGINE_TIMEOUT):
        panel.tabs.setCurrentWidget(panel.tree_view)
    tree = panel.tree_view.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 2)  # the first piece, and its pruned rival
    best = [tree.topLevelItem(1)]
    while best[-1].childCount():
        best.append(best[-1].child(best[-1].childCount() - 1))
    assert [i.text(0) for i in best] == list(panel.result.sentences[0].best.tokens)
    assert best[-1].text(3) == "★ n-best" and best[-1].font(0).bold()
    assert tree.topLevelItem(0).text(3) == "pruned"
    pruned = best[1].child(0)  # the third step's rival: decode again from it
    expected = [best[0].text(0), best[1].text(0), pruned.text(0)]
    with qtbot.waitSignal(window.client.redecoded, timeout=ENGINE_TIMEOUT) as blocker:
        tree.itemClicked.emit(pruned, 0)
    forced = blocker.args[1].best
    assert list(forced.tokens[: forced.prefix_length]) == expected
    assert tree.topLevelItemCount() == 2 and pruned.text(0) == expected[-1]  # the tree stays as it was
    panel.tabs.setCurrentIndex(0)
    panel.tabs.setCurrentWidget(panel.tree_view)  # the same sentence and options: kept, not searched again
    assert panel.tree_view.tree.topLevelItemCount() == 2


def test_a_map_of_the_previous_model_is_not_asked_of_the_one_being_opened(qtbot, make_window, fake_transformer_file):
    """Found by the soak: ⇄ queued the other model's opening, the inspector then asked for an attribution of
    the old translation, and the new model failed on a piece of the old vocabulary; the request stayed marked
    as asked, and the map waited forever."""
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two")
    FakeTranslator.explained.clear()
    window.opening = "other.s2s"
    insp.set_kind(INPUT_X_GRADIENT)
    qtbot.wait(200)
    assert FakeTranslator.explained == [] and insp.view is None
    window.opening = None
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.open_model(str(fake_transformer_file))
    qtbot.waitUntil(lambda: insp.view is not None and insp.view.kind == INPUT_X_GRADIENT, timeout=ENGINE_TIMEOUT)
    assert len(FakeTranslator.explained) == 1
