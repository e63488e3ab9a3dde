"""The beam-search tree of one sentence: every hypothesis the search kept at each step, with its score,
and what became of it (pruned, finished, chosen), rebuilt from the search's own history.

`beam_search(..., recorder=TreeRecorder())` records, besides the back-pointers it always keeps, the
hypotheses that ended in "</s>" at each step; `build_tree` turns both into nodes. A node is one
prefix: its parent is the prefix one piece shorter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from s2s_desktop.engine.api import EOS_ID, TreeNode

LIVE, PRUNED, FINISHED, CHOSEN = "live", "pruned", "finished", "chosen"


class TreeRecorder:
    """Collects, per step, the finished candidates of sentence 0 (full-batch coordinates)."""

    def __init__(self) -> None:
        self.finished: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # (step, parent slot, raw, norm)
        self.history: tuple | None = None  # (tok, back, logp), each (T, B, K), set by beam_search
        self.chosen: list[tuple[int, int]] = []  # (end step, slot) of the returned hypotheses of sentence 0

    def add_finished(self, t: int, active: torch.Tensor, parent: torch.Tensor, raw: torch.Tensor,
                     norm: torch.Tensor) -> None:
        where = (active == 0).nonzero()
        if where.numel() == 0:
            return
        row = int(where[0, 0])
        keep = torch.isfinite(raw[row])
        if bool(keep.any()):
            self.finished.append((t, parent[row][keep].cpu().numpy(), raw[row][keep].float().cpu().numpy(),
                                  norm[row][keep].float().cpu().numpy()))


def build_tree(tok: np.ndarray, back: np.ndarray, logp: np.ndarray, recorder: TreeRecorder,
               chosen: list[tuple[int, int]], piece: Callable[[int], str]) -> list[TreeNode]:
    """Nodes of sentence 0 from the search history (tok, back, logp: (T, B, K)); `chosen` holds the
    (end step, slot) of the returned hypotheses, whose "</s>" nodes are marked CHOSEN."""
    steps, k = tok.shape[0], tok.shape[2]
    nodes: list[TreeNode] = []
    index: dict[tuple[int, int], int] = {}  # (step, slot) -> node
    score = np.zeros(k)
    has_child: set[int] = set()
    finished_at: dict[int, list] = {}
    for t, parent, raw, norm in recorder.finished:
        finished_at.setdefault(t, []).append((parent, raw, norm))
    for t in range(steps):
        new_score = np.full(k, -np.inf)
        for j in range(k):
            lp = float(logp[t, 0, j])
            if not np.isfinite(lp):
                continue
            parent_slot = int(back[t, 0, j])
            parent = index.get((t - 1, parent_slot), -1) if t > 0 else -1
            if t > 0 and parent == -1:
                continue  # a slot that was never live (the first step has one live beam)
            total = (score[parent_slot] if t > 0 else 0.0) + lp
            if not np.isfinite(total):
                continue
            new_score[j] = total
            index[(t, j)] = len(nodes)
            if parent >= 0:
                has_child.add(parent)
            nodes.append(TreeNode(parent, t, piece(int(tok[t, 0, j])), lp, float(total), LIVE))
        for parents, raw, norm in finished_at.get(t, []):
            for p, r, n in zip(parents, raw, norm):
                parent = index.get((t - 1, int(p)), -1) if t > 0 else -1
                if t > 0 and parent == -1:
                    continue
                lp = float(r - (score[int(p)] if t > 0 else 0.0))
                state = CHOSEN if (t, int(p)) in chosen else FINISHED
                if parent >= 0:
                    has_child.add(parent)
                nodes.append(TreeNode(parent, t, piece(EOS_ID), lp, float(n), state))
        score = new_score
    return [n if n.state != LIVE or i in has_child else
            TreeNode(n.parent, n.step, n.piece, n.log_prob, n.score, PRUNED) for i, n in enumerate(nodes)]
