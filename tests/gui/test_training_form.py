"""The new-run form lists the registry's architectures and starts from each one's recipe."""

from __future__ import annotations

import pytest

from s2s_desktop.engine.api import ModelConfig
from s2s_desktop.engine.models import registry
from s2s_desktop.engine.models.presets import default_recipe, preset


@pytest.fixture
def form(qtbot, tmp_path):
    from s2s_desktop.gui.training_form import TrainingForm

    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("one\teins\n", encoding="utf-8")
    form = TrainingForm()
    qtbot.addWidget(form)
    form.train_tsv.setText(str(corpus))
    return form


def test_the_architecture_list_is_the_registry_s(form) -> None:
    labels = [form.arch.itemText(i) for i in range(form.arch.count())]
    assert labels == [label for label, _, _ in registry.form_choices()]
    assert form.arch.currentText() == "RNN: GRU + Luong attention (fast)"  # ModelConfig's default architecture
    assert [form.preset.itemText(i) for i in range(form.preset.count())] == ["tiny", "small", "base"]


@pytest.mark.parametrize("index", range(len(registry.form_choices())))
def test_each_entry_starts_from_its_architecture_s_recipe(form, index: int) -> None:
    label, arch, fields = registry.form_choices()[index]
    form.arch.setCurrentIndex(index)
    recipe = default_recipe(arch)
    model, train = form.configs()
    for name in ("lr", "schedule", "warmup_steps", "batch_tokens", "adam_beta2", "clip_norm", "sp_model_type"):
        assert train[name] == recipe.train[name], name
    cfg = ModelConfig.from_dict(model)
    assert cfg == ModelConfig(arch=arch, **{**preset(arch, "small"), **recipe.model, **fields})
    assert model == cfg.to_dict()  # the flat form config.json and model files hold


def test_transformer_keeps_its_defaults(form) -> None:
    form.arch.setCurrentText("Transformer")
    model, train = form.configs()
    assert (model["arch"], model["tie_output"], model["dropout"], model["heads"]) == ("transformer", True, 0.3, 4)
    assert (train["lr"], train["adam_beta2"], train["clip_norm"], train["sp_model_type"]) == (0.005, 0.98, 25.0, "bpe")
    form.arch.setCurrentText("RNN: LSTM + Bahdanau attention")
    model, train = form.configs()
    assert (model["cell"], model["attention"], model["tie_output"]) == ("lstm", "bahdanau", False)
    assert model["dropout"] == 0.2
    assert (train["lr"], train["schedule"], train["adam_beta2"], train["sp_model_type"]) == (
        0.0015, "plateau", 0.999, "unigram")


def _wheel(widget, clicks: int = 1) -> None:
    """A synthesized mouse-wheel turn over `widget` (120 = one notch, positive = away from the user)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    for _ in range(clicks):
        event = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_and_changes_a_box_only_when_it_has_focus(qtbot, form) -> None:
    form.advanced.setChecked(True)
    form.resize(420, 300)  # short: the fields scroll
    form.show()
    qtbot.waitExposed(form)
    form.activateWindow()
    form.batch.setValue(4096)
    form.src_lang.setFocus()
    bar = form.scroll.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    _wheel(form.batch, 20)
    _wheel(form.schedule, 3)
    assert form.batch.value() == 4096 and form.schedule.currentText() == "plateau"  # not changed ...
    assert bar.value() > 0  # ... the form scrolled instead
    from PySide6.QtCore import Qt

    assert form.batch.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel gives no focus
    form.batch.setFocus()
    qtbot.waitUntil(form.batch.hasFocus)
    _wheel(form.batch, 2)
    assert form.batch.value() == 4096 - 2 * form.batch.singleStep()  # focused: the wheel is for the box


def test_switching_architecture_keeps_typed_values_and_says_what_changed(form) -> None:
    form.arch.setCurrentText("RNN: GRU + Luong attention (fast)")
    form.batch.setValue(5000)  # typed by the user
    form.arch.setCurrentText("Transformer")
    recipe = default_recipe("transformer").train
    assert form.batch.value() == 5000  # kept
    assert form.lr.value() == recipe["lr"] and form.schedule.currentText() == recipe["schedule"]  # the recipe's
    note = form.arch_note.text()
    assert form.arch_note.isVisibleTo(form)
    assert "Transformer recipe set" in note and "learning rate 0.005" in note and "inverse-sqrt" in note
    assert "Kept what you typed: batch 5000" in note
    form.arch.setCurrentText("RNN: LSTM + Bahdanau attention")  # the recipe's values follow, the typed one stays
    assert form.lr.value() == default_recipe("rnn").train["lr"] and form.batch.value() == 5000


def test_a_run_name_that_is_rewritten_says_so(form, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("S2S_DESKTOP_HOME", str(tmp_path))
    form.run_name.setText("rnn test/1")
    assert form.name_note.isVisibleTo(form) and "“rnn_test_1”" in form.name_note.text()
    assert form.out_dir().endswith("rnn_test_1")
    form.run_name.setText("rnn-test_1.b")
    assert not form.name_note.isVisibleTo(form)


def test_the_corpus_filter_offers_the_typed_languages_and_all_files(form) -> None:
    from s2s_desktop.gui.form_widgets import corpus_filter

    form.src_lang.setText("pt")
    form.tgt_lang.setText("es")
    text = form.train_src.filters()
    assert "*.pt" in text and "*.es" in text and "*.tsv" in text and "*.gz" in text
    assert text.endswith(";;All files (*)")
    assert corpus_filter(("en", "")) == "Text corpora (*.txt *.tsv *.gz *.xz *.bz2 *.en);;All files (*)"


def test_form_values_round_trip_and_bad_values_are_skipped(qtbot, form, tmp_path) -> None:
    from s2s_desktop.gui.training_form import TrainingForm

    form.pair_mode.setChecked(True)
    form.train_src.setText(str(tmp_path / "a.pt"))
    form.src_lang.setText("pt")
    form.arch.setCurrentText("Transformer")
    form.advanced.setChecked(True)
    form.batch.setValue(5000)
    form.lr.setValue(0.0007)
    form.limit_kind.setCurrentText("steps")
    form.limit.setValue(1234)
    form.run_name.setText("not remembered")
    values = form.values()
    again = TrainingForm()
    qtbot.addWidget(again)
    again.set_values({**values, "unknown": 1, "patience": "ten", "schedule": "no-such-schedule"})
    assert again.values() == values
    assert again.pair_mode.isChecked() and again.arch.currentText() == "Transformer"
    assert (again.batch.value(), again.lr.value(), again.limit.value()) == (5000, 0.0007, 1234)
    assert again.run_name.text() == "" and not again.arch_note.isVisibleTo(again)


# -- issue 17 item 9: the form's reasons, in its own words -------------------------------------------
def test_the_reasons_name_the_forms_fields_not_command_line_options(form, tmp_path) -> None:
    form.train_tsv.setText("")
    assert form.problem.text() == "Choose the training file (one source<TAB>target pair per line)."
    form.pair_mode.setChecked(True)
    assert "Choose both training files" in form.problem.text()
    form.tsv_mode.setChecked(True)
    form.train_tsv.setText(str(tmp_path / "pairs.tsv"))
    form.advanced.setChecked(True)
    form.schedule.setCurrentText("inverse-sqrt")
    form.warmup.setValue(0)
    text = form.problem.text()
    assert text.startswith("“LR schedule” inverse-sqrt needs “Warmup steps” of at least 1")
    assert "--" not in text and "FILE" not in text and not form.start_button.isEnabled()


def test_a_binary_corpus_cannot_start_a_run(form, tmp_path) -> None:
    import gzip

    model = tmp_path / "best.s2s"
    model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}" + bytes(range(256)))  # a safetensors header
    form.train_tsv.setText(str(model))
    assert not form.start_button.isEnabled() and not form.check_button.isEnabled()
    assert "best.s2s is not a text file" in form.problem.text() and "plain-text corpus" in form.problem.text()
    packed = tmp_path / "pairs.tsv.gz"
    packed.write_bytes(gzip.compress(b"one\teins\n"))
    form.train_tsv.setText(str(packed))
    assert form.start_button.isEnabled()  # gzipped text is text
    binary_inside = tmp_path / "odd.tsv.gz"
    binary_inside.write_bytes(gzip.compress(b"one\x00two\n"))
    form.train_tsv.setText(str(binary_inside))
    assert "not a text file" in form.problem.text()


def test_a_corpus_check_result_goes_when_the_corpus_changes(form, tmp_path) -> None:
    from s2s_desktop.engine.api import CorpusCounts

    counts = CorpusCounts(train_pairs=1, valid_pairs=0, skipped_empty=0, train_origin="pairs.tsv",
                          valid_origin="split off", mean_src_words=1.0, mean_tgt_words=1.0, too_long_words=0,
                          bad_ratio_words=0)
    asked = []
    form.check_requested.connect(asked.append)
    form.check_button.click()
    form.show_counts(counts)
    assert asked and form.counts.isVisibleTo(form) and "1</b> training pairs" in form.counts.text()
    other = tmp_path / "other.tsv"
    other.write_text("two\tzwei\n", encoding="utf-8")
    form.train_tsv.setText(str(other))
    assert not form.counts.isVisibleTo(form) and form.counts.text() == ""
    form.check_button.click()
    form.train_tsv.setText(str(tmp_path / "pairs.tsv"))  # changed while the check ran: its answer is another file's
    form.show_counts(counts)
    assert not form.counts.isVisibleTo(form)
