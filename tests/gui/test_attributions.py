"""Attributions in the inspector (issue 21, item 1): a method chosen beside the attention kinds is asked
of the engine once per hypothesis, drawn like the cross-attention, and explained by a one-line hint."""

from __future__ import annotations

import json
import time

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


def _whole(key, method, result) -> bool:
    return result is not None and result.complete


def test_each_attribution_is_asked_once_and_shown_as_a_map(qtbot, make_window, fake_transformer_file):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three four").sentences[0]
    assert insp.picker.offered() == [CROSS, ENCODER, DECODER, *ATTRIBUTIONS]
    FakeTranslator.explained.clear()
    for method in ATTRIBUTIONS:
        with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT, check_params_cb=_whole):
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



def test_the_beam_tree_exports_as_a_drawing_and_as_its_nodes(qtbot, make_window, fake_model_file, tmp_path):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    panel = window.panel
    t = translate_and_wait(qtbot, window, "one two three").sentences[0]
    assert not panel.tree_view.export_button.isEnabled()
    with qtbot.waitSignal(window.client.tree_ready, timeout=ENGINE_TIMEOUT):
        panel.tabs.setCurrentWidget(panel.tree_view)
    view = panel.tree_view
    qtbot.waitUntil(view.export_button.isEnabled)
    tree = view.shown_tree()
    from s2s_desktop.gui.beam_tree_export import export_tree, layout

    export_tree(str(tmp_path / "t.json"), tree, view.model_name)
    data = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert data["model"] == fake_model_file.name and data["source"] == t.source
    assert [(n["parent"], n["piece"], n["state"]) for n in data["nodes"]] == [
        (n.parent, n.piece, n.state) for n in tree.nodes]
    assert " ".join(p for p in t.best.tokens if p != "</s>") in data["n_best"]
    export_tree(str(tmp_path / "t.csv"), tree)
    lines = (tmp_path / "t.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("node,parent,step,piece") and len(lines) == len(tree.nodes) + 1
    rows, steps = layout(tree)
    leaves = [i for i in range(len(tree.nodes)) if not any(n.parent == i for n in tree.nodes)]
    assert sorted(rows[i] for i in leaves) == list(range(len(leaves)))  # one row per leaf
    for i in range(len(tree.nodes)):  # a parent sits among its children, one step left of them
        kids = [j for j, m in enumerate(tree.nodes) if m.parent == i]
        if kids:
            assert min(rows[j] for j in kids) <= rows[i] <= max(rows[j] for j in kids)
            assert all(steps[j] == steps[i] + 1 for j in kids)
    for suffix in (".png", ".svg"):
        export_tree(str(tmp_path / f"t{suffix}"), tree)
        assert (tmp_path / f"t{suffix}").stat().st_size > 1000
    with pytest.raises(ValueError, match="unknown export format"):
        export_tree(str(tmp_path / "t.bmp"), tree)


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


def test_integrated_gradients_fills_the_map_from_the_selected_token_and_keeps_it_selected(
        qtbot, make_window, fake_transformer_file):
    """The slow attribution: the row of the token selected before the switch comes first (partial map,
    the busy bar counting rows, a hint saying so), the token stays selected, then the whole map."""
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three four").sentences[0]
    insp.select_row(2)
    seen = []
    window.client.explained.connect(lambda key, method, result: seen.append(
        (result.rows_done, insp.view.matrix.copy() if insp.view is not None else None,
         insp.hint_label.text(), window.busy.maximum(), window.busy.value())))
    with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT, check_params_cb=_whole):
        insp.set_kind(INTEGRATED_GRADIENTS)
    (done, partial, hint, maximum, value), whole = seen[0], seen[-1]
    assert done == 1 and maximum == len(t.best.tokens) and value == 1
    assert hint.startswith(f"Computing: 1 of {len(t.best.tokens)} output pieces")
    assert partial[2].sum() == pytest.approx(1.0) and not np.delete(partial, 2, axis=0).any()
    assert whole[0] is None and whole[2] == KIND_HINTS[INTEGRATED_GRADIENTS] and whole[3] == 0  # idle again
    np.testing.assert_allclose(whole[1].sum(axis=1), 1.0, atol=1e-5)
    assert insp.row == 2 and "draws on" in insp.selected_label.text()


def test_why_this_and_not_that_shows_signed_bars_and_exports(qtbot, make_window, fake_transformer_file, tmp_path):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three four").sentences[0]
    insp.select_row(1)
    chosen = t.best.tokens[1]
    rows = [insp.alternatives.item(i).data(0x0100) for i in range(insp.alternatives.count())]
    insp.alternatives.setCurrentRow([tok for _, tok in rows].index(chosen))
    assert not insp.why_button.isEnabled()  # not the chosen piece against itself
    other = next(i for i, (_, tok) in enumerate(rows) if tok != chosen)
    insp.alternatives.setCurrentRow(other)
    alternative = rows[other][1]
    assert insp.why_button.isEnabled()
    with qtbot.waitSignal(window.client.contrasted, timeout=ENGINE_TIMEOUT):
        insp.why_button.click()
    assert FakeTranslator.contrasted[-1] == (1, alternative)
    label = insp.selected_label.text()
    assert label.startswith("Why <b>") and "and not <b>" in label and "log p difference +1.00" in label
    heights = list(insp.bar_item.opts["height"])
    s = len(t.source_tokens)
    assert heights[s - 3] == pytest.approx(1.5) and heights[-1] == pytest.approx(-0.5)
    brushes = insp.bar_item.opts["brushes"]
    assert brushes[s - 3] != brushes[-1]  # toward the chosen piece and toward the alternative differ
    assert all(a.isEnabled() for a in insp.contrast_actions)
    insp.export_contrast(str(tmp_path / "c.json"))
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert (data["chosen"], data["alternative"], data["position"]) == (chosen, alternative, 1)
    assert [row["source"] for row in data["scores"]] == list(t.source_tokens)
    insp.export_contrast(str(tmp_path / "c.csv"))
    assert (tmp_path / "c.csv").read_text(encoding="utf-8").splitlines()[0] == "source,score"
    for suffix in (".png", ".svg"):
        insp.export_contrast(str(tmp_path / f"c{suffix}"))
        assert (tmp_path / f"c{suffix}").stat().st_size > 1000
    insp.select_row(0)  # another token: its own weights again, unsigned
    assert insp.bar_item.opts["brushes"] is None and not any(a.isEnabled() for a in insp.contrast_actions)


def test_two_models_side_by_side_with_their_differences_highlighted(qtbot, make_window, fake_model_file, tmp_path):
    """Item 5: the Compare tab translates the text with a second model when shown, marks the sentences
    and the words where the two differ, draws both maps, and exports the comparison."""
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    other = write_fake_model(tmp_path / "other.s2s", variant=1)
    result = translate_and_wait(qtbot, window, "one two three\nfour five")
    view = window.panel.compare_view
    assert view.summary.text().startswith("No other en → rev model in the library")  # what to do, said
    view.add_file(str(other))
    assert not view._asked and not view.second  # not asked while the tab is hidden
    with qtbot.waitSignal(window.client.compared, timeout=ENGINE_TIMEOUT):
        window.panel.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.sentence_box.count() == 2)
    # sentence 1 (3 words) is rotated by the other model, sentence 2 (2 words) is not
    assert view.sentence_box.itemText(0).startswith("1 ≠") and view.sentence_box.itemText(1).startswith("2:")
    assert "the same translation for 1 of 2 sentences" in view.summary.text()
    a_html, b_html = view.a.text.toHtml(), view.b.text.toHtml()
    assert "#f4d3d3" in a_html and "#d3ecd3" in b_html
    assert view.a.heatmap.matrix.shape == view.b.heatmap.matrix.shape == (4, 4)  # 3 words + </s> each side
    view.sentence_box.setCurrentIndex(1)
    assert "#f4d3d3" not in view.a.text.toHtml() and "#d3ecd3" not in view.b.text.toHtml()
    out = tmp_path / "cmp.json"
    view.export(str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["same_sentences"] == 1 and data["sentences_compared"] == 2
    first = data["sentences"][0]
    assert first["a"]["translation"] == result.sentences[0].best.text and not first["same"]
    assert first["b"]["translation"] != first["a"]["translation"]
    assert len(first["a"]["attention"]["weights"]) == 4
    view.export(str(tmp_path / "cmp.csv"))
    assert (tmp_path / "cmp.csv").read_text(encoding="utf-8").splitlines()[2].endswith(",yes")
    for suffix in (".png", ".svg"):
        view.export(str(tmp_path / f"cmp{suffix}"))
        assert (tmp_path / f"cmp{suffix}").stat().st_size > 1000
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT):  # a new text: asked again at once
        window.panel.source.setPlainText("six seven eight")
    qtbot.waitUntil(lambda: view.sentence_box.count() == 1 and "0 of 1" in view.summary.text(), timeout=ENGINE_TIMEOUT)


def test_a_cancelled_attribution_is_asked_again_when_shown(qtbot, make_window, fake_transformer_file):
    """A newer request cancels a running one, answered by None: a partial map of it must not stay on
    screen for good, and the request must not stay marked as asked (the map would wait forever)."""
    from s2s_desktop.engine.api import Explanation

    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three").sentences[0]
    key = insp._key()
    insp._asked.add((*key, INTEGRATED_GRADIENTS))
    partial = np.zeros((len(t.best.tokens), len(t.source_tokens)))
    insp.set_explanation(key, INTEGRATED_GRADIENTS, Explanation(INTEGRATED_GRADIENTS, partial, 32, rows_done=1))
    insp.set_explanation(key, INTEGRATED_GRADIENTS, None)
    assert (*key, INTEGRATED_GRADIENTS) not in insp.explanations and not insp._asked
    FakeTranslator.explained.clear()
    with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT, check_params_cb=_whole):
        insp.set_kind(INTEGRATED_GRADIENTS)
    assert FakeTranslator.explained == [(INTEGRATED_GRADIENTS, t.source)]


def test_a_new_translation_cancels_the_attribution_of_the_previous_one(qtbot, make_window, fake_transformer_file,
                                                                       monkeypatch):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two three")
    asked = []
    original = FakeTranslator.explain

    def slow(self, source, tokens, method, steps=32, cancelled=None, first=None, progress=None):
        asked.append(source)
        deadline = time.monotonic() + 5
        while not cancelled() and time.monotonic() < deadline:  # a long map, asked between passes
            time.sleep(0.01)
        return None if cancelled() else original(self, source, tokens, method, steps, cancelled, first, progress)

    monkeypatch.setattr(FakeTranslator, "explain", slow)
    insp.set_kind(INTEGRATED_GRADIENTS)
    qtbot.waitUntil(lambda: asked == ["one two three"], timeout=ENGINE_TIMEOUT)
    with qtbot.waitSignal(window.client.explained, timeout=3000, check_params_cb=lambda k, m, r: r is None):
        window.panel.source.setPlainText("four five")  # cancelled well before its 5 s
    monkeypatch.undo()
    qtbot.waitUntil(lambda: insp.view is not None and insp.view.kind == INTEGRATED_GRADIENTS
                    and insp.translation.source == "four five", timeout=ENGINE_TIMEOUT)


def test_nothing_is_asked_of_a_new_model_about_the_previous_ones_translation(qtbot, make_window,
                                                                             fake_transformer_file):
    """Found by the soak: right after a switch the map still showed the previous model's translation, an
    attribution chosen then was asked of the new model, which failed on a piece its vocabulary lacks."""
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    result = translate_and_wait(qtbot, window, "one two")
    asked = []
    insp.explain_requested.connect(lambda *args: asked.append(args))
    insp.self_attention_requested.connect(lambda *args: asked.append(args))
    insp.set_model("other.s2s", True)  # what the window does when another model has opened
    for kind in (INPUT_X_GRADIENT, ENCODER):
        insp.set_kind(kind)
        assert asked == [] and insp.view is None
    insp.select_row(0)
    insp._ask_contrast(0, "▁x")
    assert insp._asked_contrast is None
    insp.set_result(result)  # the new model's translation (of the same text, here): now it is asked
    assert len(asked) == 1 and asked[0][0] == (result.sentences[0].source, tuple(result.sentences[0].best.tokens))


def test_a_newer_text_supersedes_the_second_models_translation_of_an_older_one(qtbot, make_window,
                                                                                fake_model_file, tmp_path):
    """Typing with the Compare tab shown asks for one comparison per text: only the newest is translated."""
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    other = write_fake_model(tmp_path / "other.s2s", variant=1)
    translate_and_wait(qtbot, window, "one two three")
    worker, sent = window.client.worker, []
    worker.compared.connect(lambda req, key, info, result: sent.append(result.source))
    from s2s_desktop.gui.engine_worker import COMPARE

    old = window.client.new_request(COMPARE)  # an older text's request, still queued when...
    window.client.compare(("k", 2), str(other), "four five six", window.panel.options())  # ...a newer one came
    qtbot.waitUntil(lambda: sent == ["four five six"], timeout=ENGINE_TIMEOUT)
    worker.compare(old, ("k", 1), str(other), "one two three", window.panel.options())  # reaches the worker: skipped
    qtbot.wait(100)
    assert sent == ["four five six"]


def test_integrated_gradients_takes_the_users_step_count(qtbot, make_window, fake_transformer_file, tmp_path):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two three")
    box = insp.picker.steps_box
    assert not box.isVisibleTo(window)  # only beside integrated gradients
    with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT, check_params_cb=_whole):
        insp.set_kind(INTEGRATED_GRADIENTS)
    assert box.isVisibleTo(window) and box.value() == 32
    assert insp.explanations[(*insp._key(), INTEGRATED_GRADIENTS)].steps == 32
    asked = []
    insp.explain_requested.connect(lambda *args: asked.append(args))
    with qtbot.waitSignal(window.client.explained, timeout=ENGINE_TIMEOUT, check_params_cb=_whole):
        box.setValue(8)
    assert [a[5] for a in asked] == [8]
    qtbot.waitUntil(lambda: insp.explanations[(*insp._key(), INTEGRATED_GRADIENTS)].steps == 8)
    insp.export(str(tmp_path / "ig.svg"))
    assert "integrated gradients (8 steps)" in (tmp_path / "ig.svg").read_text(encoding="utf-8")
    insp.set_kind(INPUT_X_GRADIENT)
    assert not box.isVisibleTo(window)
