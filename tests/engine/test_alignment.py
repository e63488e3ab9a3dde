"""Word alignments (issue 21, item 3): gold links, AER, and models trained here on tasks whose true
alignment is known by construction (copy, reversal, a fixed permutation of the words)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from s2s_desktop.cli import main
from s2s_desktop.engine import alignment
from s2s_desktop.engine.alignment import Gold, parse_gold_line, score
from s2s_desktop.errors import InputError
from tests.conftest import NUMBER_WORDS, ZAHL_WORTE

GERMAN = dict(zip(NUMBER_WORDS, ZAHL_WORTE))


def swap_pairs(n: int) -> list[int]:
    """The fixed permutation: target word j translates source word perm[j] (neighbours swapped)."""
    perm = list(range(n))
    for j in range(0, n - 1, 2):
        perm[j], perm[j + 1] = j + 1, j
    return perm


TASKS = {
    "copy": lambda n: list(range(n)),
    "reversal": lambda n: list(range(n))[::-1],
    "permutation": swap_pairs,
}


def task_pairs(task: str, count: int, seed: int) -> list[tuple[str, str, frozenset]]:
    """(source, target, gold links) with target word j the German for source word perm[j]."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = rng.sample(NUMBER_WORDS, rng.randint(2, 7))  # distinct: each link is known for certain
        perm = TASKS[task](len(words))
        out.append((" ".join(words), " ".join(GERMAN[words[i]] for i in perm),
                    frozenset((perm[j], j) for j in range(len(words)))))
    return out


@pytest.fixture(scope="module", params=sorted(TASKS))
def task_model(request, tmp_path_factory):
    """(task, model file): a small RNN trained for a few seconds on the task."""
    from s2s_desktop.engine.api import Finished, ModelConfig, TrainConfig
    from s2s_desktop.engine.training.loop import train

    task = request.param
    folder = tmp_path_factory.mktemp(f"align-{task}")
    lines = [f"{s}\t{t}\n" for s, t, _ in task_pairs(task, 2500, seed=3)]
    (folder / "train.tsv").write_text("".join(lines), encoding="utf-8")
    cfg = TrainConfig(out_dir=str(folder / "run"), src_lang="en", tgt_lang="de", train_tsv=str(folder / "train.tsv"),
                      valid_size=50, vocab_size=60, batch_tokens=600, lr=5e-3, max_steps=200, valid_every=200,
                      threads=2, seed=1)
    events = list(train(ModelConfig(emb_size=32, encoder_hidden=48, decoder_hidden=96, dropout=0.0), cfg))
    assert isinstance(events[-1], Finished), events[-1]
    return task, Path(events[-1].best_path)


def test_gold_lines_read_sure_and_possible_links() -> None:
    g = parse_gold_line("0-0 1?2 2-1p 3-3s", "gold.txt, line 1")
    assert g.sure == {(0, 0), (3, 3)} and g.possible == {(0, 0), (1, 2), (2, 1), (3, 3)}
    with pytest.raises(InputError, match=r"gold.txt, line 4: '1:2' is not a link"):
        parse_gold_line("0-0 1:2", "gold.txt, line 4")


def test_aer_precision_and_recall_follow_och_and_ney() -> None:
    predicted = [frozenset({(0, 0), (1, 1), (2, 0)})]
    gold = [Gold(frozenset({(0, 0), (1, 1)}), frozenset({(0, 0), (1, 1), (2, 2)}))]
    s = score(predicted, gold)
    assert (s.precision, s.recall) == (2 / 3, 1.0)
    assert s.aer == pytest.approx(1 - (2 + 2) / (3 + 2))
    perfect = score([frozenset({(0, 0), (1, 1)})], gold)
    assert perfect.aer == 0.0 and perfect.precision == perfect.recall == 1.0
    with pytest.raises(InputError, match="2 lines of gold links for 1"):
        score(predicted, gold * 2)


def test_a_trained_model_recovers_the_alignment_its_task_defines(task_model) -> None:
    """On held-out pairs the best method finds the constructed alignment (AER near 0); each method's AER is
    a real number in [0, 1] (the figures per method are in docs/benchmarks.md)."""
    from s2s_desktop.engine.decoding.service import Translator

    task, path = task_model
    translator = Translator.open(str(path), "cpu", precision="fp32")
    pairs = task_pairs(task, 60, seed=99)
    gold = [Gold(g, g) for _, _, g in pairs]
    aers = {}
    for method in alignment.METHODS:
        links = alignment.align(translator, [s for s, _, _ in pairs], [t for _, t, _ in pairs], method)
        aers[method] = score(links, gold).aer
        assert 0.0 <= aers[method] <= 1.0
    assert min(aers.values()) < 0.05, (task, aers)
    assert aers[alignment.default_method(translator)] < 0.05, (task, aers)  # the default is a good one


def test_s2s_align_writes_pharaoh_links_and_scores_them(tmp_path, capsys, reverse_model_file) -> None:
    pairs = [("one two three", "three two one"), ("four five", "five four")]
    src, tgt, gold, out = (tmp_path / n for n in ("src.txt", "tgt.txt", "gold.txt", "links.txt"))
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    gold.write_text("0-2 1-1 2-0\n0-1 1-0\n", encoding="utf-8")
    code = main(["align", "--model", str(reverse_model_file), "--src", str(src), "--tgt", str(tgt),
                 "--gold", str(gold), "--output", str(out), "--json"])
    assert code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line, (s, t) in zip(lines, pairs):
        links = parse_gold_line(line, "out").possible
        assert links and all(i < len(s.split()) and j < len(t.split()) for i, j in links)
        assert {j for _, j in links} == set(range(len(t.split())))  # every target word is linked
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"aer", "precision", "recall", "links", "sure"} and report["sure"] == 5
    assert main(["align", "--model", str(reverse_model_file), "--src", str(src), "--tgt", str(tgt),
                 "--gold", str(gold), "--method", "all"]) == 0
    table = capsys.readouterr().out
    assert all(m in table for m in alignment.METHODS) and "AER" in table


def test_s2s_align_names_what_is_wrong_with_its_files(tmp_path, capsys, reverse_model_file) -> None:
    src, tgt, gold = (tmp_path / n for n in ("src.txt", "tgt.txt", "gold.txt"))
    src.write_text("one two\nthree\n", encoding="utf-8")
    tgt.write_text("two one\n", encoding="utf-8")
    base = ["align", "--model", str(reverse_model_file), "--src", str(src), "--tgt", str(tgt)]
    assert main(base) == 2
    assert "has 2 lines but" in capsys.readouterr().err
    tgt.write_text("two one\n\n", encoding="utf-8")
    assert main(base) == 2
    assert "line 2: the target sentence is empty" in capsys.readouterr().err
    tgt.write_text("two one\nthree\n", encoding="utf-8")
    gold.write_text("0-1 1-0\n0-5\n", encoding="utf-8")
    assert main([*base, "--gold", str(gold)]) == 2
    assert "gold.txt, line 2: the link 0-5 is outside the sentence pair" in capsys.readouterr().err
    gold.write_text("0-1 1-0\nzero-zero\n", encoding="utf-8")
    assert main([*base, "--gold", str(gold)]) == 2
    assert "line 2: 'zero-zero' is not a link" in capsys.readouterr().err
    assert main([*base, "--layer", "0"]) == 2
    assert "--layer '0'" in capsys.readouterr().err
    assert main([*base, "--method", "all"]) == 2
    assert "--method all" in capsys.readouterr().err
