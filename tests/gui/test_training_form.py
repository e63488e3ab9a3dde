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
