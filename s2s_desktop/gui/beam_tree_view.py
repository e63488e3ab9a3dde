"""The beam-search tree of the sentence under the cursor (the inspector's "Beam tree" tab).

Every hypothesis the search kept at each step is a node under the prefix it extends, with the
probability of its piece and the prefix's score; pruned ones are grey, finished ones end in "</s>",
the n-best the search returned are starred and their paths open. Clicking a node decodes the
sentence again with that prefix forced (the what-if of the attention inspector). The tree is asked
of the engine when the tab is shown and kept per sentence and decoding options.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import BeamTree
from s2s_desktop.gui.beam_tree_export import export_tree
from s2s_desktop.gui.picture_file import ask_and_export

HELP = ("Every hypothesis the beam search kept at each step, under the prefix it extends. Grey: pruned; "
        "</s>: finished; ★: returned in the n-best. Click a node to decode again from it.")
PRUNED_RGB = (150, 150, 150)
EXPAND_ALL = 400  # nodes: a larger tree opens only the n-best paths


class BeamTreeView(QWidget):
    tree_requested = Signal(object, str)  # key, source sentence
    prefix_chosen = Signal(int, object)  # sentence, prefix pieces
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("Beam tree", wordWrap=True)
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup,
                                         enabled=False)
        menu = QMenu(self.export_button)
        for text, suffix in (("Tree as PNG…", ".png"), ("Tree as SVG…", ".svg"), ("Nodes as CSV…", ".csv"),
                             ("Nodes as JSON…", ".json")):
            menu.addAction(text, lambda s=suffix: self.ask_export(s))
        self.export_button.setMenu(menu)
        self.model_name = ""
        self.help = QLabel(HELP, wordWrap=True)
        self.help.setStyleSheet("color: #666;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Piece", "p", "Score", ""])
        self.tree.setIndentation(10)  # a 40-step tree nests 40 deep: the pieces must stay readable
        self.tree.setColumnWidth(0, 460)
        self.tree.setColumnWidth(1, 60)
        self.tree.setColumnWidth(2, 70)
        self.tree.itemClicked.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.export_button)
        layout.addLayout(top)
        layout.addWidget(self.help)
        layout.addWidget(self.tree, 1)
        self.trees: dict[object, BeamTree] = {}
        self.key: object = None
        self.sentence = 0
        self._asked: set = set()
        self._shown: object = None  # the key of the tree on screen

    def show_for(self, sentence: int, count: int, source: str, key: object) -> None:
        """Show the tree of `source` (sentence `sentence` of `count`), asking for it when unknown."""
        self.sentence, self.key = sentence, key
        where = f" of sentence {sentence + 1} of {count}" if count > 1 else ""
        self.label.setText(f"Beam tree{where}: {source[:80]}{'…' if len(source) > 80 else ''}")
        found = self.trees.get(key)
        if found is not None:
            if self._shown != key:  # a what-if of the same sentence keeps the tree as the user left it
                self._fill(found)
                self._shown = key
            return
        self._shown = None
        self.export_button.setEnabled(False)
        self.tree.clear()
        QTreeWidgetItem(self.tree, ["Searching…"])
        if key not in self._asked:
            self._asked.add(key)
            self.tree_requested.emit(key, source)

    def set_tree(self, key: object, tree: BeamTree) -> None:
        """The engine's answer to `tree_requested`."""
        self._asked.discard(key)
        self.trees[key] = tree
        if key == self.key:
            self._fill(tree)
            self._shown = key

    def failed(self, message: str) -> None:
        self._asked.discard(self.key)
        self._shown = None
        self.export_button.setEnabled(False)
        self.tree.clear()
        QTreeWidgetItem(self.tree, [f"The beam tree could not be computed: {message}"])

    def forget(self, model_name: str = "") -> None:
        """A new model: its trees are not the old one's."""
        self.model_name = model_name
        self.export_button.setEnabled(False)
        self.trees.clear()
        self._asked.clear()
        self.key = self._shown = None
        self.tree.clear()

    def shown_tree(self) -> BeamTree | None:
        return self.trees.get(self._shown) if self._shown is not None else None

    def ask_export(self, suffix: str) -> None:
        tree = self.shown_tree()
        if tree is not None:
            ask_and_export(self, "the beam tree", f"beam-tree{suffix}", lambda path: export_tree(path, tree, self.model_name),
                           self.export_failed.emit)

    def _fill(self, tree: BeamTree) -> None:
        self.export_button.setEnabled(True)
        self.tree.clear()
        items: list[QTreeWidgetItem] = []
        bold = QFont(self.tree.font())
        bold.setBold(True)
        grey = QBrush(QColor(*PRUNED_RGB))
        chosen: list[QTreeWidgetItem] = []
        for index, node in enumerate(tree.nodes):
            parent = items[node.parent] if node.parent >= 0 else self.tree
            mark = {"chosen": "★ n-best", "finished": "finished", "pruned": "pruned"}.get(node.state, "")
            item = QTreeWidgetItem(parent, [node.piece, f"{math.exp(node.log_prob):.3f}", f"{node.score:.3f}", mark])
            item.setData(0, Qt.ItemDataRole.UserRole, index)
            item.setToolTip(0, f"step {node.step + 1}: {node.piece} (log-prob {node.log_prob:.3f}); click to "
                               "decode again from this prefix")
            if node.state == "pruned":
                for col in range(4):
                    item.setForeground(col, grey)
            elif node.state == "chosen":
                for col in range(4):
                    item.setFont(col, bold)
                chosen.append(item)
            items.append(item)
        if len(items) <= EXPAND_ALL:
            self.tree.expandAll()
        else:
            for item in chosen:
                while item is not None:
                    item.setExpanded(True)
                    item = item.parent()

    def _on_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        index = item.data(0, Qt.ItemDataRole.UserRole)
        tree = self.trees.get(self.key)
        if index is None or tree is None:
            return
        self.prefix_chosen.emit(self.sentence, tree.prefix(int(index)))
