"""The window closes during a training run: a note that says at once that the run is being saved.

Stopping takes a while (the step ends, the model is validated and saved: 10-60 s on a large validation
set), and the window stays open meanwhile, as it must, for the save to finish. Without a word on screen
that looks like a frozen window. This note appears the moment the user confirms quitting, keeps the
window responsive (it is shown with `open`, never `exec`), offers the second Stop (save now, without the
validation) and goes away when the run has ended, just before the window closes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

SAVING = ("<b>Saving the training run before quitting…</b><br>The current step finishes, the model is validated "
          "and saved; the window closes when that is done. The run can be resumed later from History.")
SAVING_NOW = ("<b>Saving the model without validating it…</b><br>The window closes when it is saved. The run "
              "can be resumed later from History.")


class QuitSavingNote(QDialog):
    skip_validation = Signal()  # the user asks for the second Stop: save at once

    def __init__(self, can_skip: bool, saving_now: bool = False, parent: QWidget | None = None) -> None:
        """`can_skip`: a second Stop is possible (not for a distributed run); `saving_now`: it was already asked."""
        super().__init__(parent)
        self.setWindowTitle("Quitting")
        self.setWindowModality(Qt.WindowModality.WindowModal)  # no new run or model while the window closes
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)  # it goes when the run has saved
        self.message = QLabel(SAVING, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.message.setMinimumWidth(360)
        self.busy = QProgressBar(minimum=0, maximum=0, textVisible=False)  # no end known: a moving bar
        self.skip_button = QPushButton("Save now, without validating", enabled=can_skip)
        self.skip_button.setToolTip("The validation can take a minute on a large validation set; the model is "
                                    "saved as it is, unscored")
        self.skip_button.clicked.connect(self._skip)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.busy)
        layout.addWidget(self.skip_button, 0, Qt.AlignmentFlag.AlignRight)
        if saving_now:
            self.skip_button.setEnabled(False)
            self.message.setText(SAVING_NOW)

    def _skip(self) -> None:
        self.skip_button.setEnabled(False)
        self.message.setText(SAVING_NOW)
        self.skip_validation.emit()

    def reject(self) -> None:
        """Escape does not hide the note: the window would then look frozen again."""
