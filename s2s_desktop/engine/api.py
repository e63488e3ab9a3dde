"""Plain data that crosses module and thread boundaries: configs, training events, translations.

This module imports neither torch nor Qt, so the GUI, the CLI and the engine can all share it. Every
class is a frozen dataclass built from Python scalars, tuples and numpy arrays; configs round-trip
through JSON with `to_dict` / `from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from s2s_desktop.engine.data.words import aggregate_attention, group_text, word_groups
from s2s_desktop.engine.events import (  # noqa: F401 - re-exported: the GUI imports api only
    EVENT_TYPES,
    DataSummary,
    EvalReport,
    Event,
    Failed,
    Finished,
    ModelSaved,
    Notice,
    RunStarted,
    Sample,
    SampleTranslations,
    StepReport,
)
from s2s_desktop.engine.models.model_config import (  # noqa: F401 - its home is engine/models/model_config.py
    ModelConfig,
    RnnConfig,
    TransformerConfig,
)
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
    valid_sample: int = 0  # sentences decoded for the metrics at each validation (0 = all)
    log_every: int = 20
    samples_shown: int = 3
    early_stopping: str = "bleu"  # "loss" or the name of a metric in engine/metrics.py
    patience: int = 10  # evaluations without improvement before stopping (0 = never stop early)
    keep_last: int = 0  # also keep this many step models (step-NNNNNN.s2s) for averaging
    # Runtime
    seed: int = 42
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU), "fp32" or "bf16"
    # Warm start: the architecture, tokenizers and weights of this .s2s file (a fresh optimiser and schedule)
    init_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data, "training config")




# ---------------------------------------------------------------------------------------------
# Translation results (numpy arrays only, so they can cross into the GUI thread as they are).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: the CLI's flags, the app's decode panel and its settings file all hold this."""

    beam: int = 5
    nbest: int = 1
    length_penalty: float = 1.0  # GNMT alpha
    max_len_a: float = 1.5  # output limit = a * source length + b (subword pieces)
    max_len_b: int = 10
    min_len: int = 0
    max_source_tokens: int = 400  # longer inputs are cut here and flagged `truncated`
    alternatives: int = 5  # top-k alternatives recorded at each target position (0 = none, faster)
    # Repetition guard: no output n-gram of this many pieces repeated more often than the source repeats
    # its most repeated one (decoding/repetition.py); 0 = off (outputs as before the guard existed)
    repeat_ngram: int = 3  # 3: no BLEU cost on Multi30k and Tatoeba (docs/benchmarks.md), fewest stutters
    # Numbers, times, codes, links, emoji and unknown names copied exactly (decoding/protect.py): masked
    # before decoding, put back after; False = outputs as before the masking existed
    protect: bool = True
    # Beam search scores only the target pieces the model file's shortlist lists for the batch's sources
    # (decoding/shortlist.py; `s2s shortlist` adds one): faster, the outputs may change (docs/benchmarks.md)
    shortlist: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def clamped(self) -> DecodeOptions:
        """nbest cut to the beam: the app clamps (its n-best box follows the beam box) where the CLI,
        through `validate_options`, refuses."""
        return dataclasses.replace(self, nbest=self.beam) if self.nbest > self.beam else self


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What a user wants to know about an open model: `s2s info` (its --json is `to_json()`, in this
    field order), the app's model panel and About box."""

    path: str
    file_size: int = 0  # bytes
    format_version: int = 1
    app_version: str | None = None  # the version that wrote the file
    src_lang: str
    tgt_lang: str
    parameters: int = 0
    src_vocab: int = 0
    tgt_vocab: int = 0
    joint_vocab: bool = False
    storage: str | None = None  # "float16" for a half-size file, else None (float32)
    model: dict[str, Any] = field(default_factory=dict)  # the ModelConfig dict stored in the file
    training: dict[str, Any] = field(default_factory=dict)  # the file's training summary (steps, best, ...)
    device: str = ""  # where it runs, e.g. "cpu", "cuda:0"
    precision: str = ""  # decoding precision: "fp32", "bf16" or "int8"
    # Where an imported model came from (formats/marian_import.py): imported_from, repository, license,
    # license_text, notices, ...; {} for a model trained here.
    provenance: dict[str, Any] = field(default_factory=dict)
    target_languages: tuple[str, ...] = ()  # a multilingual model's ">>xxx<<" codes; () for the others
    target_language: str | None = None  # the one it translates into now

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SelfAttention:
    """A Transformer's self-attention over one translation (teacher-forced on the chosen hypothesis),
    asked for by the inspector next to the cross-attention the search records."""

    encoder: Any  # numpy (encoder layers, heads, S, S): source piece -> source pieces
    decoder: Any  # numpy (decoder layers, heads, T, T): target position -> the decoder inputs up to it
    decoder_inputs: tuple[str, ...]  # (T,) what the decoder read at each position: the start, then y1..y(T-1)


@dataclass(frozen=True)
class TreeNode:
    """One prefix the beam search kept: its last piece, and what became of it."""

    parent: int  # index of the parent node, -1 for a child of the start
    step: int  # 0 = the first output piece
    piece: str
    log_prob: float  # of this piece given its prefix
    score: float  # the prefix's total log-prob (a finished one: length-normalised, as the search ranks it)
    state: str  # "live" (extended), "pruned" (kept, never extended), "finished" (ended in "</s>"), "chosen" (n-best)


@dataclass(frozen=True)
class BeamTree:
    """The beam-search tree of one sentence, for the inspector."""

    source: str
    beam: int
    nodes: tuple[TreeNode, ...]

    def prefix(self, index: int) -> list[str]:
        """The pieces from the start to node `index` ("</s>" left out)."""
        out = []
        while index >= 0:
            node = self.nodes[index]
            if node.piece != "</s>":
                out.append(node.piece)
            index = node.parent
        return out[::-1]


EXPLAIN_METHODS = ("input_x_gradient", "integrated_gradients", "rollout")


@dataclass(frozen=True)
class Explanation:
    """What each source piece did for each output position of one hypothesis (teacher-forced), by an
    attribution method: asked for by the inspector beside the attention maps."""

    method: str  # one of EXPLAIN_METHODS
    scores: Any  # numpy (T, S) >= 0, rows summing to 1: output positions x source pieces ("</s>" included)
    steps: int = 0  # integrated gradients: the path's steps
    seconds: float = 0.0
    rows_done: int | None = None  # a map still being computed: the rows filled so far (the others are 0)

    @property
    def complete(self) -> bool:
        return self.rows_done is None


CONTRAST_METHODS = ("input_x_gradient", "integrated_gradients")


@dataclass(frozen=True)
class Contrast:
    """Why the model chose `chosen` and not `alternative` at one output position: the attribution of
    log p(chosen) - log p(alternative) (teacher-forced, the same prefix) to each source piece. Signed:
    a positive score pushed toward `chosen`. For integrated gradients the scores sum to about
    `difference` minus that of an all-zero source (completeness)."""

    position: int  # in the hypothesis's pieces
    chosen: str
    alternative: str
    scores: Any  # numpy (S,) signed, source pieces with "</s>"
    difference: float  # log p(chosen) - log p(alternative) there
    method: str  # one of CONTRAST_METHODS
    steps: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelConversion:
    """A model file imported (a Marian folder -> .s2s) or exported (.s2s -> CTranslate2 / Argos)."""

    path: str  # what was written
    notices: tuple[str, ...] = ()  # for the user: what was not reproduced, how weights were read, ...
    seconds: float = 0.0


@dataclass(frozen=True)
class EngineInfo:
    """What the engine found when it loaded (once, on the app's engine thread)."""

    devices: tuple[str, ...]  # "cpu", "cuda:0", ...
    labels: dict[str, str]  # device -> what the device menu shows
    torch_version: str
    seconds: float  # how long importing torch and listing the devices took


@dataclass(frozen=True)
class CorpusCounts:
    """What "Check corpus" found: the corpora read and split as training will, counted in words."""

    train_pairs: int
    train_origin: str
    skipped_empty: int
    valid_pairs: int
    valid_origin: str
    too_long_words: int  # pairs the length filter will likely drop
    bad_ratio_words: int  # pairs the length-ratio filter will likely drop
    mean_src_words: float
    mean_tgt_words: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusCounts:
        return _from_dict(cls, data, "corpus check reply")


@dataclass(frozen=True)
class FileSummary:
    """A translated (or cancelled) text file."""

    lines: int
    seconds: float
    cancelled: bool  # nothing was written
    output: str  # the file written ("" when cancelled)


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
    token_entropy: Any = None  # numpy (T,) entropy (nats) of the model's distribution at each position, with the alternatives

    @property
    def word_groups(self) -> list[list[int]]:
        return word_groups(self.tokens)

    @property
    def words(self) -> list[str]:
        return group_text(self.tokens, self.word_groups)

    def entropy(self, position: int) -> float | None:
        """Entropy in nats of the model's distribution at a target position (0: it was sure; ln V: it
        had no idea); None when the decoding asked for no alternatives."""
        if self.token_entropy is None or not self.alt_tokens or position >= len(self.token_entropy):
            return None
        return float(self.token_entropy[position])

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
    degenerate: str | None = None  # why the output looks broken (a loop, ...; decoding/degenerate.py), else None

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
            "degenerate": self.degenerate,
            "prefix_length": best.prefix_length,
            "alternatives": [
                [[tok, round(float(p), 6)] for tok, p in zip(toks, probs)]
                for toks, probs in zip(best.alt_tokens, best.alt_probs if best.alt_probs is not None else [])
            ],
            "token_entropy": ([round(float(x), 6) for x in best.token_entropy]
                              if best.token_entropy is not None and best.alt_tokens else []),
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

    @property
    def degenerate(self) -> str | None:
        """The first flagged sentence's reason ("sentence 2: ..." when there are several), else None."""
        flagged = [(i, t.degenerate) for i, t in enumerate(self.sentences, 1) if t.degenerate]
        if not flagged:
            return None
        i, why = flagged[0]
        return why if len(self.sentences) == 1 else f"sentence {i}: {why}"

    @property
    def source_word_count(self) -> int:
        """Words (whitespace-separated) of the sentences translated: what a words/s rate counts."""
        return sum(len(t.source.split()) for t in self.sentences)


def _round_nested(array: Any) -> Any:
    if getattr(array, "ndim", 0) == 1:
        return [round(float(v), 5) for v in array]
    return [_round_nested(a) for a in array]
