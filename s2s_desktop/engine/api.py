"""Plain data that crosses module and thread boundaries: configs, training events, translations.

This module imports neither torch nor Qt, so the GUI, the CLI and the engine can all share it. Every
class is a frozen dataclass built from Python scalars, tuples and numpy arrays; configs round-trip
through JSON with `to_dict` / `from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from s2s_desktop.engine.data.words import aggregate_attention, group_text, word_groups
from s2s_desktop.errors import ConfigError

# Special token ids, defined once for every tokenizer and model.
PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3


def _from_dict(cls, data: dict[str, Any], where: str):
    """Build dataclass `cls` from a dict, naming unknown keys instead of silently dropping them."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and sizes of a model; saved inside every model file."""

    arch: str = "rnn"  # "rnn" or "transformer"
    src_vocab_size: int = 8000
    tgt_vocab_size: int = 8000
    emb_size: int = 256
    dropout: float = 0.3
    # RNN
    cell: str = "gru"  # "gru" or "lstm"
    attention: str = "luong-general"  # "bahdanau", "luong-dot" or "luong-general"
    encoder_hidden: int = 256  # per direction (the encoder is bidirectional)
    encoder_layers: int = 1
    decoder_hidden: int = 512
    decoder_layers: int = 1
    # Transformer (d_model = emb_size; encoder_layers / decoder_layers count Transformer layers)
    heads: int = 4
    ff_size: int = 1024
    # Shared
    tie_output: bool = False  # output layer reuses the target embedding matrix
    share_embeddings: bool = False  # source and target embeddings are one matrix (joint vocabulary)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data, "model config")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `s2s train` needs besides the model architecture."""

    out_dir: str
    src_lang: str
    tgt_lang: str
    train_tsv: str | None = None
    train_src: str | None = None
    train_tgt: str | None = None
    valid_tsv: str | None = None
    valid_src: str | None = None
    valid_tgt: str | None = None
    valid_size: int = 1000  # pairs split off the training data when no validation corpus is given
    # Filters (counted in SubwordSummary and RunStarted)
    max_len: int = 100  # subword pieces per side
    max_ratio: float = 3.0  # max ratio between the longer and the shorter side (in pieces)
    # SentencePiece
    vocab_size: int = 8000
    sp_model_type: str = "unigram"  # "unigram" or "bpe"
    character_coverage: float = 1.0
    joint_vocab: bool = False
    # Optimisation
    batch_tokens: int = 3000  # target tokens per batch (padding included)
    lr: float = 1e-3
    schedule: str = "plateau"  # "plateau", "inverse-sqrt", "cosine" or "constant"
    warmup_steps: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 2  # evaluations without improvement before the LR is cut
    min_lr: float = 1e-5
    weight_decay: float = 0.0
    adam_beta2: float = 0.999
    label_smoothing: float = 0.1
    clip_norm: float = 5.0
    teacher_forcing: float = 1.0  # probability of feeding the reference token (1 = always)
    # Length of the run
    max_steps: int | None = None
    max_epochs: int | None = None
    max_minutes: float | None = None
    # Validation and saving
    valid_every: int = 500
    valid_sample: int = 0  # sentences decoded for BLEU/chrF at each validation (0 = all)
    log_every: int = 20
    samples_shown: int = 3
    early_stopping: str = "bleu"  # "loss", "bleu" or "chrf"
    patience: int = 10  # evaluations without improvement before stopping (0 = never stop early)
    keep_last: int = 0  # also keep this many step models (step-NNNNNN.s2s) for averaging
    # Runtime
    seed: int = 42
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU), "fp32" or "bf16"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data, "training config")


# ---------------------------------------------------------------------------------------------
# Training events. The trainer yields these; the CLI prints them, the GUI plots them, and each is
# appended to metrics.jsonl as {"event": <kind>, ...}.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind}
        out.update(dataclasses.asdict(self))
        return out


@dataclass(frozen=True)
class DataSummary:
    """What the corpus reader and the filters did; shown before training starts."""

    train_pairs: int
    valid_pairs: int
    skipped_empty: int
    filtered_length: int
    filtered_ratio: int
    src_vocab: int
    tgt_vocab: int
    mean_src_len: float
    mean_tgt_len: float
    valid_origin: str


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "started"
    run_dir: str
    device: str
    num_params: int
    resumed_from_step: int
    data: DataSummary
    model: dict[str, Any]
    train: dict[str, Any]


@dataclass(frozen=True)
class StepReport(Event):
    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    loss: float  # mean label-smoothed loss per target token over the last log interval
    nll: float  # mean negative log-likelihood per target token (no smoothing): exp(nll) = ppl
    lr: float
    tokens_per_sec: float  # target tokens per second over the interval
    grad_norm: float
    tokens_seen: int
    elapsed: float  # training seconds since the run began (summed over resumes)


@dataclass(frozen=True)
class EvalReport(Event):
    kind: ClassVar[str] = "eval"
    step: int
    epoch: int
    loss: float  # per-token NLL on the validation set
    ppl: float
    bleu: float
    chrf: float
    is_best: bool
    metric: str
    elapsed: float
    decode_seconds: float


@dataclass(frozen=True)
class Sample:
    source: str
    reference: str
    hypothesis: str
    # The attention of the greedy decode (last decoder layer, mean of heads), so that a viewer sees
    # attention form as training goes on: weights[target piece][source piece], rounded.
    source_tokens: tuple[str, ...] = ()
    target_tokens: tuple[str, ...] = ()
    attention: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class SampleTranslations(Event):
    kind: ClassVar[str] = "samples"
    step: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class ModelSaved(Event):
    kind: ClassVar[str] = "saved"
    step: int
    path: str
    role: str  # "best", "last" or "step"


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know that does not stop the run (e.g. a skipped NaN step)."""

    kind: ClassVar[str] = "notice"
    step: int
    message: str


@dataclass(frozen=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    step: int
    reason: str  # "max-steps", "max-epochs", "max-minutes", "early-stopping", "stopped"
    best_path: str
    best_step: int
    best_scores: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


@dataclass(frozen=True)
class Failed(Event):
    kind: ClassVar[str] = "failed"
    step: int
    message: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, StepReport, EvalReport, SampleTranslations, ModelSaved, Notice, Finished, Failed)
}


# ---------------------------------------------------------------------------------------------
# Translation results (numpy arrays only, so they can cross into the GUI thread as they are).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeOptions:
    beam: int = 5
    nbest: int = 1
    length_penalty: float = 1.0  # GNMT alpha
    max_len_a: float = 1.5  # output limit = a * source length + b (subword pieces)
    max_len_b: int = 10
    min_len: int = 0
    max_source_tokens: int = 400  # longer inputs are cut here and flagged `truncated`
    alternatives: int = 5  # top-k alternatives recorded at each target position (0 = none, faster)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One hypothesis: pieces, text, scores, per-token probabilities, alternatives and attention."""

    text: str
    tokens: tuple[str, ...]  # target pieces, "</s>" included when the hypothesis ended
    token_probs: Any  # numpy (T,) probability of each chosen piece
    log_prob: float  # sum of the pieces' log-probabilities
    score: float  # log_prob normalised by the GNMT length penalty
    attention: Any  # numpy (layers, heads, T, S) over the source pieces
    alt_tokens: tuple[tuple[str, ...], ...] = ()  # (T, k) the model's top-k pieces at each position
    alt_probs: Any = None  # numpy (T, k) their probabilities
    prefix_length: int = 0  # the first `prefix_length` pieces were forced; free decoding starts there

    @property
    def word_groups(self) -> list[list[int]]:
        return word_groups(self.tokens)

    @property
    def words(self) -> list[str]:
        return group_text(self.tokens, self.word_groups)

    def alternatives(self, position: int) -> list[tuple[str, float]]:
        """The model's most probable pieces at a target position, with their probabilities."""
        return [(tok, float(p)) for tok, p in zip(self.alt_tokens[position], self.alt_probs[position])]


@dataclass(frozen=True)
class Translation:
    """One sentence translated: the best hypothesis, the n-best list, and the source pieces."""

    source: str
    source_tokens: tuple[str, ...]  # source pieces + "</s>"
    best: Candidate
    nbest: tuple[Candidate, ...]
    truncated: bool = False  # the source was longer than the limit and was cut

    @property
    def text(self) -> str:
        return self.best.text

    @property
    def source_word_groups(self) -> list[list[int]]:
        return word_groups(self.source_tokens)

    @property
    def source_words(self) -> list[str]:
        return group_text(self.source_tokens, self.source_word_groups)

    def word_attention(self, candidate: Candidate | None = None) -> Any:
        """Attention aggregated to words, (layers, heads, target words, source words)."""
        cand = candidate or self.best
        return aggregate_attention(cand.attention, cand.word_groups, self.source_word_groups)

    def to_json(self, attention: bool = True) -> dict[str, Any]:
        best = self.best
        out: dict[str, Any] = {
            "source": self.source,
            "text": best.text,
            "score": best.score,
            "log_prob": best.log_prob,
            "tokens": list(best.tokens),
            "token_probs": [round(float(x), 6) for x in best.token_probs],
            "source_tokens": list(self.source_tokens),
            "nbest": [{"text": c.text, "score": c.score, "log_prob": c.log_prob} for c in self.nbest],
            "truncated": self.truncated,
            "prefix_length": best.prefix_length,
            "alternatives": [
                [[tok, round(float(p), 6)] for tok, p in zip(toks, probs)]
                for toks, probs in zip(best.alt_tokens, best.alt_probs if best.alt_probs is not None else [])
            ],
        }
        if attention:
            out["attention"] = _round_nested(best.attention)
        return out


@dataclass(frozen=True)
class ParagraphTranslation:
    """A multi-sentence input: each sentence translated on its own, re-joined with the input's
    separators (spaces and line breaks kept)."""

    source: str
    sentences: tuple[Translation, ...]
    separators: tuple[str, ...]  # separators[i] follows sentence i in the source (and the output)
    leading: str = ""  # whitespace before the first sentence

    @property
    def text(self) -> str:
        return self.leading + "".join(t.text + sep for t, sep in zip(self.sentences, self.separators))

    @property
    def truncated(self) -> bool:
        return any(t.truncated for t in self.sentences)


def _round_nested(array: Any) -> Any:
    if getattr(array, "ndim", 0) == 1:
        return [round(float(v), 5) for v in array]
    return [_round_nested(a) for a in array]
