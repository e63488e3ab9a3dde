"""Translation metrics, each declared once: the registry that `s2s evaluate`, the trainer's validation,
early stopping and best-model choice, the plots, the run history and the model info all read.

A metric is a name (its key in `EvalReport.scores`, in metrics.jsonl and for `--early-stopping`), a
display label, a direction, a plot group (metrics of one group share a plot: same scale, same
direction) and a corpus-level function that calls the library defining the metric. Adding one is one
`Metric(...)` entry in `METRICS` (and its test).

Libraries are imported when a metric is computed, never when this module is: the GUI reads the table
without loading sacreBLEU, and a metric whose library is missing stays listed, `available` False, with
a message saying what to install.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s2s_desktop.errors import ConfigError


@dataclass(frozen=True)
class MetricScore:
    value: float
    signature: str = ""  # how it was computed (sacreBLEU's signature), printed by `s2s evaluate`
    detail: str = ""  # e.g. BLEU's "68.2/42.0/27.9/18.6 (BP = 0.97 ratio = 0.97 hyp_len = ... ref_len = ...)"


# compute(hypotheses, references, lowercase) -> MetricScore; one reference per hypothesis.
Compute = Callable[[Sequence[str], Sequence[str], bool], MetricScore]


LOSS_TIE_MARGIN = 1e-4  # per-token NLL: a tie is broken by a loss lower by more than rounding noise


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    plot: str  # plot group: "overlap" (0-100, higher is better), "edit" (edit rate, lower is better), "loss"
    compute: Compute | None  # None for the validation loss, which the trainer computes itself
    module: str | None = None  # the library it needs (import name)
    package: str = ""  # the pip package that provides it
    extra: str = ""  # the s2s-desktop extra that installs it, if any
    in_training: bool = True  # computed at every validation (others only when chosen for early stopping)

    @property
    def available(self) -> bool:
        return self.module is None or importlib.util.find_spec(self.module) is not None

    @property
    def unavailable_reason(self) -> str:
        """Why the metric cannot be computed here ("" when it can)."""
        if self.available:
            return ""
        package = self.package or self.module
        also = f" (or s2s-desktop[{self.extra}])" if self.extra else ""
        return f"{self.label} needs the {package} package: pip install {package}{also}"

    def better(self, value: float, best: float | None) -> bool:
        """Whether `value` improves on `best` (None: nothing to beat yet)."""
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best

    def improves(self, value: float, loss: float, best: float | None, best_loss: float | None) -> bool:
        """Whether a validation with this metric `value` and validation `loss` makes a better model
        than the best so far: a better value, or the same value with a (clearly) lower loss. The tie matters on
        short runs, where BLEU stays at 0.00 for validation after validation while the loss falls."""
        if self.better(value, best):
            return True
        return value == best and best_loss is not None and loss < best_loss - LOSS_TIE_MARGIN


def _sacrebleu(kind: str, **options) -> Compute:
    def compute(hyps: Sequence[str], refs: Sequence[str], lowercase: bool) -> MetricScore:
        from sacrebleu import metrics  # noqa: PLC0415  (imported when a score is computed)

        if kind == "TER":
            scorer = metrics.TER(case_sensitive=not lowercase, **options)
        else:
            scorer = getattr(metrics, kind)(lowercase=lowercase, **options)
        result = scorer.corpus_score(list(hyps), [list(refs)])
        detail = str(result).split("= ", 1)[-1] if kind == "BLEU" else ""
        return MetricScore(float(result.score), str(scorer.get_signature()), detail)

    return compute


class _WordTokenizer:
    """rouge-score's tokenizer interface: lowercased runs of letters and digits of any script."""

    pattern = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(text.lower())


def _rouge_l(hyps: Sequence[str], refs: Sequence[str], lowercase: bool) -> MetricScore:
    """ROUGE-L (longest common subsequence) F-measure x 100, averaged over sentences, by rouge-score.

    Tokenizer: rouge-score's default keeps only [a-z0-9] (so "Müller" becomes "m ller" and Cyrillic or
    Greek text vanishes); here tokens are lowercased runs of letters and digits of any script, which
    is the same as the default for ASCII text. No stemming. ROUGE ignores case whatever `lowercase`
    says; text without spaces between words (Chinese, Japanese) counts as one token per run.
    """
    from rouge_score import rouge_scorer  # noqa: PLC0415  (an optional extra: s2s-desktop[rouge])

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_WordTokenizer())
    scores = [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hyps, refs)]
    value = 100.0 * sum(scores) / len(scores) if scores else 0.0
    from importlib.metadata import version  # noqa: PLC0415

    return MetricScore(value, f"rougeL|f-measure|avg:sentence|tok:unicode-words|stem:no|"
                              f"version:rouge-score-{version('rouge-score')}")


# The registry, in display order. The first metric is the headline one (the run history's column).
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("bleu", "BLEU", True, "overlap", _sacrebleu("BLEU"), "sacrebleu", "sacrebleu"),
    Metric("chrf", "chrF", True, "overlap", _sacrebleu("CHRF"), "sacrebleu", "sacrebleu"),
    Metric("ter", "TER", False, "edit", _sacrebleu("TER"), "sacrebleu", "sacrebleu", in_training=False),
    Metric("rougeL", "ROUGE-L", True, "overlap", _rouge_l, "rouge_score", "rouge-score", "rouge", in_training=False),
)}
# Not a corpus metric but a choice for early stopping: the per-token NLL on the validation set.
LOSS = Metric("loss", "validation loss", False, "loss", None)
HEADLINE = next(iter(METRICS.values()))
PLOT_GROUP_TITLES = {"overlap": "overlap with the reference, higher is better",
                     "edit": "edits to reach the reference, lower is better"}


def metric(name: str) -> Metric:
    """A registered metric, or the validation loss; ConfigError names the choices otherwise."""
    if name == LOSS.name:
        return LOSS
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; choose one of {', '.join(stopping_choices())}") from None


def stopping_choices() -> tuple[str, ...]:
    """What `--early-stopping` accepts: the validation loss and every registered metric."""
    return (LOSS.name, *METRICS)


def check_available(name: str, option: str = "--early-stopping") -> None:
    m = metric(name)
    if not m.available:
        raise ConfigError(f"{option} {name}: {m.unavailable_reason}")


def corpus_metric(name: str, option: str = "metric") -> Metric:
    """A registered metric that can be computed here; ConfigError (naming `option`) otherwise."""
    if name not in METRICS:
        raise ConfigError(f"{option}: unknown metric {name!r}; choose from {', '.join(METRICS)}")
    m = METRICS[name]
    if not m.available:
        raise ConfigError(f"{option} {name}: {m.unavailable_reason}")
    return m


def training_metrics(early_stopping: str) -> list[Metric]:
    """The metrics a validation computes: those marked `in_training` whose library is present, and
    the early-stopping metric."""
    return [m for m in METRICS.values() if (m.in_training and m.available) or m.name == early_stopping]


def score(
    hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False, names: Sequence[str] | None = None
) -> dict[str, MetricScore]:
    """Corpus scores of detokenised hypotheses against one reference each, in registry order.
    `names`: the metrics wanted (default: every available one)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    wanted = [corpus_metric(n) for n in names] if names is not None else [m for m in METRICS.values() if m.available]
    return {m.name: m.compute(hypotheses, references, lowercase) for m in METRICS.values() if m in wanted}


def label(key: str) -> str:
    """Display label of a score key: a metric's label; other keys ("loss", "ppl", "step") as they are."""
    return METRICS[key].label if key in METRICS else key


def format_scores(scores: Mapping[str, Any]) -> str:
    """"step 40, loss 2.00, ppl 7.40, BLEU 21.00, chrF 40.00": floats with two decimals, labels from here."""
    return ", ".join(f"{label(k)} {v:.2f}" if isinstance(v, float) else f"{label(k)} {v}" for k, v in scores.items())


def plot_groups() -> dict[str, list[Metric]]:
    """Registered metrics by plot group, in registry order."""
    groups: dict[str, list[Metric]] = {}
    for m in METRICS.values():
        groups.setdefault(m.plot, []).append(m)
    return groups
