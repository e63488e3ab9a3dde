"""`s2s train`: its options (generated from the config dataclasses), configs from arguments, the
distributed launch, and the progress lines it prints."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import MISSING, fields

from s2s_desktop.cli.common import clock as _clock
from s2s_desktop.cli.common import raise_usage

# Help for the options generated from TrainConfig / ModelConfig fields (name -> help).
TRAIN_HELP = {
    "valid_size": "pairs split off the training data (by unique source) when no validation corpus is given",
    "max_len": "drop training pairs longer than this many subword pieces on either side",
    "max_ratio": "drop training pairs whose length ratio exceeds this",
    "vocab_size": "SentencePiece vocabulary size per side (or joint)",
    "sp_model_type": "SentencePiece model: unigram or bpe",
    "character_coverage": "SentencePiece character coverage (1.0 for Latin scripts, 0.9995 for CJK)",
    "joint_vocab": "one SentencePiece model for both languages",
    "batch_tokens": "padded target tokens per batch",
    "lr": "peak learning rate",
    "schedule": "plateau (reduce on plateau), inverse-sqrt (needs --warmup-steps), cosine (decays to --min-lr at --max-steps) or constant",
    "warmup_steps": "linear warmup steps",
    "plateau_factor": "LR multiplier when validation stops improving",
    "plateau_patience": "evaluations without improvement before the LR is cut",
    "min_lr": "the plateau schedule never goes below this; cosine ends here",
    "weight_decay": "AdamW weight decay",
    "adam_beta2": "AdamW beta2",
    "label_smoothing": "label smoothing of the cross-entropy",
    "clip_norm": "gradient norm clipping (0 = off)",
    "teacher_forcing": "probability of feeding the reference token (1 = always; <1 = scheduled sampling)",
    "max_epochs": "stop after this many epochs",
    "valid_every": "validate (loss, BLEU, chrF) and save every N steps",
    "valid_sample": "validation sentences decoded for BLEU/chrF (0 = all)",
    "log_every": "print a progress line every N steps",
    "samples_shown": "sample translations shown at each validation",
    "early_stopping": "metric for the best model and early stopping: loss, bleu or chrf",
    "patience": "evaluations without improvement before stopping (0 = never)",
    "keep_last": "also keep the last N step models (step-NNNNNNN.s2s) for `s2s average`",
    "seed": "random seed (data order, initialisation, dropout)",
    "threads": "CPU threads for torch",
    "precision": "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16",
}
MODEL_HELP = {
    "emb_size": "embedding size",
    "dropout": "dropout probability",
    "cell": "RNN cell: gru or lstm",
    "attention": "bahdanau (step-wise, input feeding), luong-dot or luong-general (fast, one batched matmul)",
    "encoder_hidden": "encoder RNN size per direction",
    "encoder_layers": "encoder RNN layers",
    "decoder_hidden": "decoder RNN size",
    "decoder_layers": "decoder RNN layers",
    "tie_output": "the output layer reuses the target embeddings",
    "share_embeddings": "one embedding matrix for source and target (needs --joint-vocab)",
    "heads": "Transformer attention heads (d_model = --emb-size)",
    "ff_size": "Transformer feed-forward size",
}
# TrainConfig fields with a hand-written flag below.
SPECIAL_TRAIN = {
    "out_dir", "src_lang", "tgt_lang", "train_tsv", "train_src", "train_tgt", "valid_tsv", "valid_src",
    "valid_tgt", "max_steps", "max_minutes", "device",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_dataclass_options(group, cls, helps: dict[str, str], skip=()) -> None:
    for f in fields(cls):
        if f.name in skip or f.name not in helps:
            continue
        default = f.default if f.default is not MISSING else None
        if isinstance(default, bool):
            group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=helps[f.name])
            continue
        kind = {int: int, float: float}.get(type(default), str)
        if f.name in ("threads", "max_epochs"):
            kind = int
        group.add_argument(_flag(f.name), type=kind, default=None, metavar=f.name.upper(),
                           help=f"{helps[f.name]} (default: {default})")


def _collect(args, cls, helps) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls) if f.name in helps and getattr(args, f.name) is not None}


def add_train_parser(sub) -> None:
    from s2s_desktop.engine.api import ModelConfig, TrainConfig

    t = sub.add_parser("train", help="train a model on a parallel corpus")
    data = t.add_argument_group("data")
    data.add_argument("--train", dest="train_tsv", metavar="TSV", help="training corpus: source<TAB>target lines")
    data.add_argument("--train-src", metavar="FILE", help="training source sentences, one per line")
    data.add_argument("--train-tgt", metavar="FILE", help="training target sentences, aligned with --train-src")
    data.add_argument("--valid", dest="valid_tsv", metavar="TSV", help="validation corpus (else split off --train)")
    data.add_argument("--valid-src", metavar="FILE")
    data.add_argument("--valid-tgt", metavar="FILE")
    data.add_argument("--src-lang", metavar="L", help="source language code, e.g. en")
    data.add_argument("--tgt-lang", metavar="L", help="target language code, e.g. de")
    _add_dataclass_options(data, TrainConfig, {k: TRAIN_HELP[k] for k in (
        "valid_size", "max_len", "max_ratio", "vocab_size", "sp_model_type", "character_coverage", "joint_vocab")})
    model = t.add_argument_group("model")
    model.add_argument("--arch", default="rnn", choices=["rnn", "transformer"], help="architecture (default: rnn)")
    model.add_argument("--preset", choices=["tiny", "small", "base"],
                       help="model size preset for the architecture (flags below override it)")
    _add_dataclass_options(model, ModelConfig, MODEL_HELP)
    opt = t.add_argument_group("optimisation and validation")
    _add_dataclass_options(opt, TrainConfig, {k: v for k, v in TRAIN_HELP.items() if k not in (
        "valid_size", "max_len", "max_ratio", "vocab_size", "sp_model_type", "character_coverage", "joint_vocab",
        "threads", "precision", "seed")})
    run = t.add_argument_group("run")
    run.add_argument("--out", dest="out_dir", required=True, metavar="RUN_DIR",
                     help="run folder: config.json, metrics.jsonl, best.s2s, last.s2s, resume state")
    run.add_argument("--max-steps", type=int, metavar="N", help="stop after N updates")
    run.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes of training")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    run.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR where it stopped")
    run.add_argument("--quiet", action="store_true", help="print evaluations only, no step lines")
    _add_dataclass_options(run, TrainConfig, {k: TRAIN_HELP[k] for k in ("threads", "precision", "seed")})
    dist = t.add_argument_group("distributed (torchrun, DistributedDataParallel: gloo on CPU, NCCL on CUDA)")
    dist.add_argument("--nproc-per-node", type=int, metavar="N",
                      help="train in N processes on this machine; --batch-tokens is per process")
    dist.add_argument("--nnodes", type=int, default=1, metavar="M",
                      help="machines taking part; run the same command on each (default: 1)")
    dist.add_argument("--node-rank", type=int, default=0, metavar="R", help="this machine's index, 0 to M-1")
    dist.add_argument("--master-addr", metavar="HOST", help="address of the machine with --node-rank 0")
    dist.add_argument("--master-port", type=int, metavar="PORT",
                      help="a free TCP port there (default: 29500 with several machines, any free port with one)")



def train_configs(args):
    """(ModelConfig, TrainConfig) from parsed `s2s train` arguments."""
    from s2s_desktop.engine.api import ModelConfig, TrainConfig

    train_kwargs = _collect(args, TrainConfig, TRAIN_HELP)
    for name in SPECIAL_TRAIN:
        value = getattr(args, name, None)
        if value is not None:
            train_kwargs[name] = value
    if args.resume:
        train_kwargs.setdefault("src_lang", "-")
        train_kwargs.setdefault("tgt_lang", "-")
    else:
        for flag, name in (("--src-lang", "src_lang"), ("--tgt-lang", "tgt_lang")):
            if not train_kwargs.get(name):
                raise_usage(f"{flag} is required")
    train_cfg = TrainConfig(**train_kwargs)
    from s2s_desktop.engine.models.presets import preset

    sizes = preset(args.arch, args.preset) if args.preset else {}
    if args.arch == "transformer" and not args.preset:
        sizes = preset("transformer", "small")
    model_cfg = ModelConfig(arch=args.arch, **{**sizes, **_collect(args, ModelConfig, MODEL_HELP)})
    return model_cfg, train_cfg


def train_argv(model: dict, train: dict) -> list[str]:
    """`s2s train ...` arguments that rebuild these configs (the app starts distributed runs this way)."""
    from s2s_desktop.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    options = {a.dest: a for a in sub._actions if a.option_strings}
    argv = ["train"]
    for name, value in {**model, **train}.items():
        action = options.get(name)
        if action is None or value is None:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(action.option_strings[0] if value else action.option_strings[1])
        else:
            argv += [next(s for s in action.option_strings if s.startswith("--")), str(value)]
    return argv


def cmd_train(args) -> int:
    from s2s_desktop.engine.training.distributed import launched, launched_rank
    from s2s_desktop.engine.training.loop import train

    model_cfg, train_cfg = train_configs(args)
    if _start_distributed(args, model_cfg, train_cfg):
        return 0
    rank = launched_rank()  # 0 unless this is a process of a distributed run, where rank 0 speaks for all

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        if launched():  # torchrun passed the signal on to every process; a second one ends the launcher
            if rank == 0:
                print("\nstopping: every process finishes the step, then the run is saved", file=sys.stderr)
        else:
            print("\nstopping: finishing the step and saving (press Ctrl+C again to abort)", file=sys.stderr)
        stop.set()

    old = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        status = 0
        for event in train(model_cfg, train_cfg, stop=stop, resume=args.resume):
            if rank == 0:
                status = _print_event(event, args.quiet) or status
            elif event.kind == "failed":
                status = 1
        return status
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)


def _start_distributed(args, model_cfg, train_cfg) -> bool:
    """With --nproc-per-node / --nnodes (and not yet under torchrun): check the options here, then run
    this same command in every process under torchrun. False when this process should train itself."""
    from s2s_desktop.engine.config import validate_model_config, validate_train_config
    from s2s_desktop.engine.training.distributed import check_launch, launch, launched

    nproc = 1 if args.nproc_per_node is None else args.nproc_per_node
    if launched():  # a process torchrun started: torchrun's numbers are the ones that count
        expected = int(os.environ.get("LOCAL_WORLD_SIZE", nproc))
        if args.nproc_per_node is not None and args.nproc_per_node != expected:
            raise_usage(f"--nproc-per-node {args.nproc_per_node} differs from torchrun's {expected}")
        return False
    check_launch(nproc, args.nnodes, args.node_rank)
    if (nproc, args.nnodes) == (1, 1):
        return False
    if not args.resume:  # the usual mistakes, once, before N processes start
        validate_train_config(train_cfg)
        validate_model_config(model_cfg)
    launch(args.argv, nproc, args.nnodes, args.node_rank, args.master_addr, args.master_port)
    return True


def _secondary_rank(args) -> bool:
    """A process of a distributed run other than rank 0, which reports for all of them."""
    if getattr(args, "command", None) != "train":
        return False
    from s2s_desktop.engine.training.distributed import launched_rank

    return launched_rank() > 0


def _print_event(event, quiet: bool) -> int:
    kind = event.kind
    out = sys.stdout
    if kind == "started":
        d = event.data
        resumed = f", resumed at step {event.resumed_from_step}" if event.resumed_from_step else ""
        print(f"run {event.run_dir} on {event.device}{resumed}", file=out)
        print(
            f"data: {d.train_pairs:,} training pairs, {d.valid_pairs:,} validation pairs ({d.valid_origin}); "
            f"skipped {d.skipped_empty} empty, filtered {d.filtered_length} too long, {d.filtered_ratio} bad ratio; "
            f"vocab {d.src_vocab}/{d.tgt_vocab}; mean length {d.mean_src_len:.1f}/{d.mean_tgt_len:.1f} pieces",
            file=out,
        )
        m = event.model
        kind = (f"transformer {m['encoder_layers']}+{m['decoder_layers']} layers, d {m['emb_size']}, "
                f"{m['heads']} heads, ff {m['ff_size']}" if m["arch"] == "transformer"
                else f"rnn {m['cell']} {m['attention']}")
        print(f"model: {kind}, {event.num_params:,} parameters", file=out)
    elif kind == "step" and not quiet:
        print(
            f"step {event.step:>6} | epoch {event.epoch + 1:>3} | loss {event.loss:6.3f} | ppl {_exp(event.nll):8.2f} | "
            f"lr {event.lr:.2e} | {event.tokens_per_sec:7,.0f} tok/s | |g| {event.grad_norm:5.2f} | "
            f"{_clock(event.elapsed)}",
            file=out,
        )
    elif kind == "eval":
        best = " *best*" if event.is_best else ""
        print(
            f"eval step {event.step} | val loss {event.loss:.3f} ppl {event.ppl:.2f} | BLEU {event.bleu:.2f} "
            f"chrF {event.chrf:.2f} | decode {event.decode_seconds:.1f}s{best}",
            file=out,
        )
    elif kind == "samples" and not quiet:
        for s in event.samples:
            print(f"  src: {s.source}\n  ref: {s.reference}\n  hyp: {s.hypothesis}", file=out)
    elif kind == "notice":
        print(f"note: {event.message}", file=out)
    elif kind == "finished":
        scores = ", ".join(f"{k} {v:.2f}" for k, v in event.best_scores.items())
        print(f"finished ({event.reason}) at step {event.step} after {_clock(event.elapsed)}; "
              f"best model {event.best_path} (step {event.best_step}: {scores})", file=out)
    elif kind == "failed":
        print(f"s2s: error: training failed at step {event.step}: {event.message}", file=sys.stderr)
        return 1
    out.flush()
    return 0


def _exp(x: float) -> float:
    import math

    return math.exp(min(x, 50.0))
