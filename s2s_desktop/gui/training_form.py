"""The new-run form: corpus, languages, architecture and preset, and the advanced settings.

Invalid values cannot be entered (ranges, validators) or cannot start a run: the engine's own config
validation runs on every change and the Start button stays disabled with the reason in its tooltip
and under the form. "Check corpus" reads the files as training will and shows the counts.

The fields scroll; the counts, the reason and the buttons stay below them, always in view. Switching
architecture applies its recipe to the fields the user left at the recipe's value and says what it
changed and what it kept. `values`/`set_values` carry the form between sessions (the settings).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop import paths
from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import CorpusCounts, ModelConfig, TrainConfig
from s2s_desktop.engine.config import validate
from s2s_desktop.engine.models import registry
from s2s_desktop.engine.models.presets import default_recipe, preset, preset_names
from s2s_desktop.errors import S2SError
from s2s_desktop.gui.form_problems import corpus_problem, file_problem, in_form_terms
from s2s_desktop.gui.form_widgets import PathField, corpus_filter, guard_wheel, safe_run_name

ARCHITECTURES = registry.form_choices()  # (label, arch, the section fields it sets)
_TRAIN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
LANG = QRegularExpression(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
# The fields an architecture's recipe sets: (train/model config key, how the note names it).
RECIPE_FIELDS = (("lr", "learning rate"), ("schedule", "LR schedule"), ("warmup_steps", "warmup steps"),
                 ("batch_tokens", "batch"), ("dropout", "dropout"))
NOTE_STYLE = "color: #555;"


class TrainingForm(QWidget):
    start_requested = Signal(object, object, int)  # model config dict, train config dict, processes
    check_requested = Signal(object)  # train config dict

    def __init__(self, devices: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._recipe: dict[str, Any] | None = None  # the recipe values the fields were last set to
        self._wanted_device = ""  # a remembered device, chosen once the engine lists it
        self._checked: tuple | None = None  # the corpus fields when "Check corpus" was last pressed
        # Corpus.
        self.tsv_mode = QRadioButton("One TSV file (source<TAB>target)", checked=True)
        self.pair_mode = QRadioButton("Two aligned files")
        filters = lambda: corpus_filter((self.src_lang.text(), self.tgt_lang.text()))  # noqa: E731
        self.train_tsv = PathField("train.tsv", filters=filters)
        self.train_src = PathField("train.en", filters=filters)
        self.train_tgt = PathField("train.de", filters=filters)
        self.valid_tsv = PathField("optional: valid.tsv (otherwise split off the training data)", filters=filters)
        self.valid_src = PathField("optional: valid.en", filters=filters)
        self.valid_tgt = PathField("optional: valid.de", filters=filters)
        self.src_lang = QLineEdit("en", validator=QRegularExpressionValidator(LANG), maxLength=12)
        self.tgt_lang = QLineEdit("de", validator=QRegularExpressionValidator(LANG), maxLength=12)
        corpus = QGroupBox("Corpus")
        cf = QFormLayout(corpus)
        modes = QVBoxLayout()
        modes.addWidget(self.tsv_mode)
        modes.addWidget(self.pair_mode)
        cf.addRow(modes)
        cf.addRow("Training", self.train_tsv)
        cf.addRow("Training source", self.train_src)
        cf.addRow("Training target", self.train_tgt)
        cf.addRow("Validation", self.valid_tsv)
        cf.addRow("Validation source", self.valid_src)
        cf.addRow("Validation target", self.valid_tgt)
        langs = QHBoxLayout()
        langs.addWidget(self.src_lang)
        langs.addWidget(QLabel("→"))
        langs.addWidget(self.tgt_lang)
        cf.addRow("Languages", langs)
        self.corpus_form = cf

        # Model.
        self.arch = QComboBox()
        for label, *_ in ARCHITECTURES:
            self.arch.addItem(label)
        # The first entry of the default architecture (ModelConfig's): "RNN: GRU + Luong attention (fast)".
        self.arch.setCurrentIndex(next(i for i, (_, arch, _) in enumerate(ARCHITECTURES) if arch == ModelConfig().arch))
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.preset.setCurrentText("small")
        self.run_name = QLineEdit(placeholderText="name of the run folder (default: date and languages)")
        self.arch_note = QLabel(wordWrap=True, visible=False, styleSheet=NOTE_STYLE)
        self.name_note = QLabel(wordWrap=True, visible=False, styleSheet=NOTE_STYLE)
        model = QGroupBox("Model")
        mf = QFormLayout(model)
        mf.addRow("Architecture", self.arch)
        mf.addRow(self.arch_note)
        mf.addRow("Size", self.preset)
        mf.addRow("Run name", self.run_name)
        mf.addRow(self.name_note)

        # Advanced.
        self.advanced = QGroupBox("Advanced", checkable=True, checked=False)
        af = QFormLayout(self.advanced)
        self.vocab = QSpinBox(minimum=100, maximum=64000, singleStep=1000, value=8000)
        self.joint = QCheckBox("Joint vocabulary", toolTip="One vocabulary for both languages (shares embeddings)")
        self.limit_kind = QComboBox()
        self.limit_kind.addItems(["minutes", "steps", "epochs"])
        self.limit = QSpinBox(minimum=1, maximum=10_000_000, value=30)
        # Batch, learning rate, schedule, warmup and dropout come from the architecture's recipe (_arch_defaults).
        self.batch = QSpinBox(minimum=200, maximum=200_000, singleStep=500)
        self.lr = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=1.0, singleStep=0.0005)
        self.schedule = QComboBox()
        self.schedule.addItems(["plateau", "inverse-sqrt", "cosine", "constant"])
        self.warmup = QSpinBox(minimum=0, maximum=100_000)
        self.dropout = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, singleStep=0.05)
        self.smoothing = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.5, singleStep=0.05, value=0.1)
        self.stop_metric = QComboBox()
        self.stop_metric.addItems([m.name for m in metrics.METRICS.values() if m.available] + [metrics.LOSS.name])
        self.patience = QSpinBox(minimum=0, maximum=1000, value=10, toolTip="0 = never stop early")
        self.valid_every = QSpinBox(minimum=10, maximum=1_000_000, singleStep=100, value=300)
        self.device = QComboBox()
        self.processes = QSpinBox(minimum=1, maximum=1, value=1,
                                  toolTip="Train with one process per GPU (PyTorch DDP under torchrun)")
        limit_row = QHBoxLayout()
        limit_row.addWidget(self.limit)
        limit_row.addWidget(self.limit_kind)
        for label, widget in (("Vocabulary size", self.vocab), ("", self.joint), ("Train for", limit_row),
                              ("Batch (target tokens)", self.batch), ("Learning rate", self.lr),
                              ("LR schedule", self.schedule), ("Warmup steps", self.warmup), ("Dropout", self.dropout),
                              ("Label smoothing", self.smoothing), ("Best model by", self.stop_metric),
                              ("Early-stop patience", self.patience), ("Validate every (steps)", self.valid_every),
                              ("Device", self.device), ("Processes (GPUs)", self.processes)):
            af.addRow(label, widget)
        self._advanced_form = af
        self.set_devices(devices or ["auto", "cpu"])  # after the rows exist: it hides the processes row
        self._advanced_body = [af.itemAt(i).widget() for i in range(af.count()) if af.itemAt(i).widget()]

        # Actions.
        self.problem = QLabel(wordWrap=True, visible=False, textFormat=Qt.TextFormat.PlainText)  # paths, "<TAB>"
        self.problem.setStyleSheet("color: #a01010;")
        self.counts = QLabel(wordWrap=True, visible=False)
        self.check_button = QPushButton("Check corpus")
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.check_button.clicked.connect(lambda: self._emit_if_valid(check=True))
        self.start_button.clicked.connect(lambda: self._emit_if_valid(check=False))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.start_button)
        body = QWidget()
        fields = QVBoxLayout(body)
        fields.addWidget(corpus)
        fields.addWidget(model)
        fields.addWidget(self.advanced)
        fields.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(body)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the fields fit its width
        self.scroll.setMinimumWidth(body.minimumSizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll, 1)
        actions = QVBoxLayout()  # below the scrolling fields: always in view
        actions.setContentsMargins(9, 0, 9, 9)
        actions.addWidget(self.counts)
        actions.addWidget(self.problem)
        actions.addLayout(buttons)
        layout.addLayout(actions)
        self.wheel_guard = guard_wheel(body)

        self._arch_defaults()
        for w in (self.train_tsv, self.train_src, self.train_tgt, self.valid_tsv, self.valid_src, self.valid_tgt):
            w.changed.connect(self.revalidate)
        for w in (self.src_lang, self.tgt_lang, self.run_name):
            w.textChanged.connect(self.revalidate)
        self.run_name.textChanged.connect(self._show_name_note)
        for w in (self.arch, self.preset, self.limit_kind, self.schedule, self.stop_metric, self.device):
            w.currentIndexChanged.connect(self.revalidate)
        for w in (self.vocab, self.limit, self.batch, self.lr, self.warmup, self.dropout, self.smoothing,
                  self.patience, self.valid_every):
            w.valueChanged.connect(self.revalidate)
        self.tsv_mode.toggled.connect(self._on_mode)
        for w in (self.train_tsv, self.train_src, self.train_tgt, self.valid_tsv, self.valid_src, self.valid_tgt):
            w.changed.connect(self._forget_counts)
        self.tsv_mode.toggled.connect(self._forget_counts)
        self.joint.toggled.connect(self.revalidate)
        self.arch.currentIndexChanged.connect(self._arch_defaults)
        self._on_mode()

    def set_devices(self, devices: list[str]) -> None:
        """The device list; "processes" is offered only when there is more than one GPU, and not in a
        frozen bundle (its torchrun workers would need `python -m`; use the `s2s` CLI there)."""
        wanted = self._wanted_device or self.device.currentText()
        self.device.clear()
        self.device.addItems(devices)
        if wanted in devices:
            self.device.setCurrentText(wanted)
        gpus = sum(1 for d in devices if d.startswith("cuda:"))
        self.processes.setMaximum(max(gpus, 1))
        visible = gpus > 1 and not getattr(sys, "frozen", False)
        self.processes.setVisible(visible)
        form = getattr(self, "_advanced_form", None)
        if form is not None and form.labelForField(self.processes) is not None:
            form.labelForField(self.processes).setVisible(visible)

    # -- building configs --------------------------------------------------------------------------
    def _on_mode(self) -> None:
        tsv = self.tsv_mode.isChecked()
        for w in (self.train_tsv, self.valid_tsv):
            w.setVisible(tsv)
            self.corpus_form.labelForField(w).setVisible(tsv)
        for w in (self.train_src, self.train_tgt, self.valid_src, self.valid_tgt):
            w.setVisible(not tsv)
            self.corpus_form.labelForField(w).setVisible(not tsv)
        self.revalidate()

    def _recipe_values(self) -> dict[str, Any]:
        """What the chosen architecture's recipe (engine/models/presets.py) puts in the form, rounded as
        the boxes show it."""
        recipe = default_recipe(ARCHITECTURES[self.arch.currentIndex()][1])
        train = {**_TRAIN_DEFAULTS, **recipe.train}
        return {"lr": round(train["lr"], self.lr.decimals()), "schedule": train["schedule"],
                "warmup_steps": train["warmup_steps"], "batch_tokens": train["batch_tokens"],
                "dropout": round(recipe.model.get("dropout", ModelConfig().dropout), self.dropout.decimals())}

    def _field(self, key: str) -> QWidget:
        return {"lr": self.lr, "schedule": self.schedule, "warmup_steps": self.warmup, "batch_tokens": self.batch,
                "dropout": self.dropout}[key]

    def _field_value(self, key: str) -> Any:
        widget = self._field(key)
        return widget.currentText() if isinstance(widget, QComboBox) else widget.value()

    def _set_field(self, key: str, value: Any) -> None:
        widget = self._field(key)
        (widget.setCurrentText if isinstance(widget, QComboBox) else widget.setValue)(value)

    def _arch_defaults(self) -> None:
        """The chosen architecture's recipe, in the fields still at the previous recipe's value; a value
        the user typed is kept. The note under the architecture says which were changed and kept."""
        new, old = self._recipe_values(), self._recipe
        changed, kept = [], []
        for key, name in RECIPE_FIELDS:
            current = self._field_value(key)
            if old is None or _same(current, old[key]):
                if not _same(current, new[key]):
                    changed.append(f"{name} {new[key]:g}" if isinstance(new[key], float) else f"{name} {new[key]}")
                self._set_field(key, new[key])
            elif not _same(current, new[key]):
                kept.append(f"{name} {current:g}" if isinstance(current, float) else f"{name} {current}")
        self._recipe = new
        if old is None:
            return
        label = ARCHITECTURES[self.arch.currentIndex()][0]
        note = f"The {label} recipe set {', '.join(changed)}." if changed else ""
        if kept:
            note += f" Kept what you typed: {', '.join(kept)}."
        self.arch_note.setText(note.strip())
        self.arch_note.setVisible(bool(note))

    def _show_name_note(self) -> None:
        typed = self.run_name.text().strip()
        folder = safe_run_name(typed)
        self.name_note.setText(f"The run folder will be named “{folder}”: folder names keep letters, digits, "
                               "“.”, “-” and “_”." if folder != typed else "")
        self.name_note.setVisible(folder != typed)

    def configs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model config, train config) as plain dicts; raises S2SError when they are not valid."""
        _label, arch, variant = ARCHITECTURES[self.arch.currentIndex()]
        recipe = default_recipe(arch)  # what the form does not show (e.g. Adam's beta2) comes from here
        joint = self.joint.isChecked()
        model = ModelConfig(arch=arch, **{
            **preset(arch, self.preset.currentText()), **recipe.model, **variant, "dropout": self.dropout.value(),
            "share_embeddings": joint, "tie_output": joint or bool(recipe.model.get("tie_output")),
        })
        tsv = self.tsv_mode.isChecked()
        valid = (self.valid_tsv.text() if tsv else "") or None, (self.valid_src.text() if not tsv else "") or None
        kind, value = self.limit_kind.currentText(), self.limit.value()
        train = TrainConfig(**{**recipe.train, **dict(
            out_dir=self.out_dir(), src_lang=self.src_lang.text(), tgt_lang=self.tgt_lang.text(),
            train_tsv=self.train_tsv.text() or None if tsv else None,
            train_src=None if tsv else self.train_src.text() or None,
            train_tgt=None if tsv else self.train_tgt.text() or None,
            valid_tsv=valid[0], valid_src=valid[1], valid_tgt=None if tsv else (self.valid_tgt.text() or None),
            vocab_size=self.vocab.value(), joint_vocab=joint, batch_tokens=self.batch.value(), lr=self.lr.value(),
            schedule=self.schedule.currentText(), warmup_steps=self.warmup.value(),
            label_smoothing=self.smoothing.value(), early_stopping=self.stop_metric.currentText(),
            patience=self.patience.value(), valid_every=self.valid_every.value(), device=self.device.currentText(),
            max_minutes=float(value) if kind == "minutes" else None,
            max_steps=value if kind == "steps" else None, max_epochs=value if kind == "epochs" else None,
        )})
        problem = corpus_problem(tsv, self.train_tsv.text(), self.train_src.text(), self.train_tgt.text(),
                                 self.valid_src.text(), self.valid_tgt.text())
        if problem:
            raise S2SError(problem)
        validate(model, train)
        problem = file_problem(train)
        if problem:
            raise S2SError(problem)
        if not (train.src_lang and self.src_lang.hasAcceptableInput() and self.tgt_lang.hasAcceptableInput()):
            raise S2SError("Language codes must look like en, de or pt-BR.")
        return model.to_dict(), dataclasses.asdict(train)

    def out_dir(self) -> str:
        name = self.run_name.text().strip() or time.strftime("%Y%m%d-%H%M%S") + f"-{self.src_lang.text()}-{self.tgt_lang.text()}"
        return str(paths.runs_dir() / safe_run_name(name))

    # -- validation --------------------------------------------------------------------------------
    def revalidate(self) -> bool:
        try:
            self.configs()
        except S2SError as exc:
            reason = in_form_terms(str(exc))  # the engine names options as the command line spells them
            self.problem.setText(reason)
            self.problem.setVisible(bool(reason))
            for b in (self.start_button, self.check_button):
                b.setEnabled(False)
                b.setToolTip(self.problem.text())
            return False
        self.problem.setText("")
        self.problem.setVisible(False)
        for b in (self.start_button, self.check_button):
            b.setEnabled(True)
            b.setToolTip("")
        return True

    def _emit_if_valid(self, check: bool) -> None:
        if not self.revalidate():
            return
        model, train = self.configs()
        if check:
            self._checked = self._corpus()
            self.check_requested.emit(train)
        else:
            self.start_requested.emit(model, train, self.processes.value() if self.processes.isVisible() else 1)

    def _corpus(self) -> tuple:
        """What a corpus check depends on: the mode and the six file fields."""
        return (self.tsv_mode.isChecked(), *(w.text() for w in (self.train_tsv, self.train_src, self.train_tgt,
                                                                  self.valid_tsv, self.valid_src, self.valid_tgt)))

    def _forget_counts(self) -> None:
        """Another corpus: the counts of the last check are not its counts."""
        self.counts.setVisible(False)
        self.counts.setText("")

    def show_counts(self, counts: CorpusCounts) -> None:
        """A check's counts, unless the corpus changed since it was asked (they would be another's)."""
        if self._checked is not None and self._checked != self._corpus():
            return
        self.counts.setVisible(True)
        self.counts.setText(
            f"<b>{counts.train_pairs:,}</b> training pairs ({counts.train_origin}; {counts.skipped_empty:,} "
            f"empty skipped), <b>{counts.valid_pairs:,}</b> validation pairs ({counts.valid_origin}). "
            f"Mean length {counts.mean_src_words:.1f} → {counts.mean_tgt_words:.1f} words; "
            f"{counts.too_long_words:,} pairs over the length limit and {counts.bad_ratio_words:,} with an "
            "unlikely length ratio will be filtered (counted in words here, in pieces during training)."
        )

    # -- remembered between sessions ---------------------------------------------------------------
    def _remembered(self) -> dict[str, QWidget]:
        """The fields kept in the settings (not the run name: each run gets a new one)."""
        return {"train_tsv": self.train_tsv, "train_src": self.train_src, "train_tgt": self.train_tgt,
                "valid_tsv": self.valid_tsv, "valid_src": self.valid_src, "valid_tgt": self.valid_tgt,
                "src_lang": self.src_lang, "tgt_lang": self.tgt_lang, "arch": self.arch, "preset": self.preset,
                "vocab": self.vocab, "joint": self.joint, "limit_kind": self.limit_kind, "limit": self.limit,
                "batch": self.batch, "lr": self.lr, "schedule": self.schedule, "warmup": self.warmup,
                "dropout": self.dropout, "smoothing": self.smoothing, "stop_metric": self.stop_metric,
                "patience": self.patience, "valid_every": self.valid_every, "device": self.device}

    def values(self) -> dict[str, Any]:
        """The form as plain JSON values (for the settings file)."""
        out: dict[str, Any] = {"mode": "tsv" if self.tsv_mode.isChecked() else "pair",
                               "advanced": self.advanced.isChecked()}
        for key, w in self._remembered().items():
            if isinstance(w, (PathField, QLineEdit)):
                out[key] = w.text()
            elif isinstance(w, QComboBox):
                out[key] = w.currentText()
            elif isinstance(w, QCheckBox):
                out[key] = w.isChecked()
            else:
                out[key] = w.value()
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the form from `values` (from `values()`, perhaps of an older version): unknown keys, values
        of the wrong type and choices no longer offered are skipped; the rest stays as it is."""
        fields = self._remembered()
        order = ["arch", *(k for k in fields if k != "arch")]  # the recipe first, then what was typed over it
        for key in order:
            if key not in values:
                continue
            w, value = fields[key], values[key]
            if isinstance(w, (PathField, QLineEdit)) and isinstance(value, str):
                w.setText(value)
            elif isinstance(w, QComboBox) and isinstance(value, str):
                if key == "device":
                    self._wanted_device = value
                if w.findText(value) >= 0:
                    w.setCurrentText(value)
            elif isinstance(w, QCheckBox) and isinstance(value, bool):
                w.setChecked(value)
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                w.setValue(value if isinstance(w, QDoubleSpinBox) else int(value))
        if isinstance(values.get("advanced"), bool):
            self.advanced.setChecked(values["advanced"])
        if values.get("mode") in ("tsv", "pair"):
            (self.tsv_mode if values["mode"] == "tsv" else self.pair_mode).setChecked(True)
        self.arch_note.setVisible(False)  # restored values are the user's, not a switch to explain
        self.revalidate()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
    return a == b
