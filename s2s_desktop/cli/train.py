"""`s2s train`: its options (generated from the config dataclasses), configs from arguments (and from
a run's config.json with --config), the distributed launch, and the progress lines it prints."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import MISSING, fields

from s2s_desktop.cli.common import clock as _clock
from s2s_desktop.cli.common import raise_usage
from s2s_desktop.engine import metrics
from s2s_desktop.errors import ConfigError

CLI_MODULE = "s2s_desktop.cli"  # what every process of a distributed run runs (`python -m`)

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
    "schedule": "plateau (reduce on plateau), inverse-sqrt (needs --warmup-steps), cosine (decays to --min-lr at "
                "--max-steps) or constant",
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
    "valid_every": "validate (loss and metrics) and save every N steps",
    "valid_sample": "validation sentences decoded for the metrics (0 = all)",
    "log_every": "print a progress line every N steps",
    "samples_shown": "sample translations shown at each validation",
    "early_stopping": "metric for the best model and early stopping: " + ", ".join(
        f"{m.name} ({m.label}, {'higher' if m.higher_is_better else 'lower'} is better"
        f"{'' if m.available else '; needs ' + m.package})" for m in map(metrics.metric, metrics.stopping_choices())),
    "patience": "evaluations without improvement before stopping (0 = never)",
    "keep_last": "also keep the last N step models (step-NNNNNNN.s2s) for `s2s average`",
    "seed": "random seed (data order, initialisation, dropout)",
    "threads": "CPU threads for torch",
    "precision": "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16",
    "init_from": "start from this model file's architecture, tokenizers and weights (fine-tuning, or the other "
                 "direction of a joint-vocabulary model); the model options are then the file's",
}
# Generated options with a closed set of values (argparse lists them on a wrong one).
CHOICES = {"early_stopping": metrics.stopping_choices()}
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
        choices = CHOICES.get(f.name)
        group.add_argument(_flag(f.name), type=kind, default=None, metavar="NAME" if choices else f.name.upper(),
                           choices=choices, help=f"{helps[f.name]} (default: {default})")


def _collect(args, cls, helps) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls) if f.name in helps and getattr(args, f.name) is not None}


def _model_options() -> dict[str, list]:
    """Model flag name -> [(architecture, or None for a common field, its dataclass field)]: the fields of
    ModelConfig and of every architecture's section (model_config.py) that have a help text."""
    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.models import registry

    options: dict[str, list] = {f.name: [(None, f)] for f in fields(ModelConfig) if f.metadata.get("help")}
    for a in registry.architectures():
        for f in fields(a.config):
            if f.metadata.get("help"):
                options.setdefault(f.name, []).append((a.name, f))
    return options


def _add_model_options(parser, model_group) -> None:
    """--arch, --preset, --recipe, then the model fields: common ones (and those several architectures
    share) in the model group, the others in a group per architecture."""
    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.models import registry
    from s2s_desktop.engine.models.presets import RECIPES, preset_names

    archs = registry.architectures()
    model_group.add_argument("--arch", choices=registry.names(), help="architecture: " + "; ".join(
        f"{a.name} ({a.summary})" for a in archs) + f" (default: {ModelConfig().arch})")
    model_group.add_argument("--preset", choices=preset_names(),
                             help="model size preset for the architecture (flags below override it)")
    model_group.add_argument("--recipe", choices=list(RECIPES), metavar="NAME",
                             help="start from a named recipe: architecture, size and training settings (listed at "
                                  "the end; the options given override its values)")
    groups = {a.name: parser.add_argument_group(f"{a.label} (--arch {a.name})") for a in archs}
    for name, owners in _model_options().items():
        owned_by = [arch for arch, _ in owners if arch]
        text = "; ".join(dict.fromkeys(f.metadata["help"] for _, f in owners))
        defaults = {arch: f.default for arch, f in owners}
        if len(set(defaults.values())) == 1:
            default = str(next(iter(defaults.values())))
        else:
            default = ", ".join(f"{value} for {arch}" for arch, value in defaults.items())
        group = groups[owned_by[0]] if len(owners) == 1 and owned_by else model_group
        if len(owned_by) > 1:
            text += f" ({', '.join(owned_by)})"
        field = owners[0][1]
        if isinstance(field.default, bool):
            group.add_argument(_flag(name), action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind = {int: int, float: float}.get(type(field.default), str)
            group.add_argument(_flag(name), type=kind, default=None, metavar=name.upper(),
                               help=f"{text} (default: {default})")


def _model_flags(args) -> dict:
    """The model options given on the command line (flat field names; --arch is not among them)."""
    return {name: getattr(args, name) for name in _model_options() if getattr(args, name, None) is not None}


def _recipe(args):
    """The --recipe named, or None; it sets up a new run on its own (no --resume, no --config)."""
    if not args.recipe:
        return None
    from s2s_desktop.engine.models.presets import recipe

    r = recipe(args.recipe)
    if args.resume or args.config:
        raise_usage(f"--recipe sets up a new run; {'--resume' if args.resume else '--config'} takes the settings "
                    "of a run instead")
    if args.arch and args.arch != r.arch:
        raise_usage(f"--recipe {r.name} is for --arch {r.arch}, not {args.arch}")
    return r


def add_train_parser(sub) -> None:
    from s2s_desktop.engine.api import TrainConfig
    from s2s_desktop.engine.models.presets import RECIPES

    width = max(len(name) for name in RECIPES) + 2
    recipes = "\n".join(f"  {r.name:<{width}}{r.summary}" for r in RECIPES.values())
    t = sub.add_parser("train", help="train a model on a parallel corpus",
                       epilog=f"recipes (--recipe NAME):\n{recipes}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # the epilog keeps its lines
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
    _add_model_options(t, model)
    opt = t.add_argument_group("optimisation and validation")
    _add_dataclass_options(opt, TrainConfig, {k: v for k, v in TRAIN_HELP.items() if k not in (
        "valid_size", "max_len", "max_ratio", "vocab_size", "sp_model_type", "character_coverage", "joint_vocab",
        "threads", "precision", "seed", "init_from")})
    run = t.add_argument_group("run")
    run.add_argument("--config", metavar="CONFIG_JSON",
                     help="start from the configs in this file (a run folder's config.json, as `s2s train` and "
                          "the app write it); the options given override its fields")
    run.add_argument("--out", dest="out_dir", metavar="RUN_DIR",
                     help="run folder: config.json, metrics.jsonl, best.s2s, last.s2s, resume state "
                          "(required unless --config names one)")
    run.add_argument("--max-steps", type=int, metavar="N", help="stop after N updates")
    run.add_argument("--max-minutes", type=float, metavar="M", help="stop after M minutes of training")
    run.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N (default: auto)")
    run.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR where it stopped")
    run.add_argument("--quiet", action="store_true", help="print evaluations only, no step lines")
    _add_dataclass_options(run, TrainConfig, {k: TRAIN_HELP[k] for k in ("threads", "precision", "seed", "init_from")})
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
    """(ModelConfig, TrainConfig) from parsed `s2s train` arguments: the fields of --config (or of --recipe)
    when given, then the sizes of --preset, then the options given on the command line (only those)."""
    from s2s_desktop.engine.api import ModelConfig, TrainConfig
    from s2s_desktop.engine.config import read_run_config, validate
    from s2s_desktop.engine.models.presets import sizes as preset_sizes

    recipe = _recipe(args)
    model_file, train_file = read_run_config(args.config) if args.config else ({}, {})
    train_flags = _collect(args, TrainConfig, TRAIN_HELP)
    for name in SPECIAL_TRAIN:
        value = getattr(args, name, None)
        if value is not None:
            train_flags[name] = value
    model_flags = _model_flags(args)
    if args.arch is not None:
        model_flags["arch"] = args.arch
    train_kwargs = {**train_file, **(recipe.train if recipe else {}), **train_flags}
    required = [("--out", "out_dir")]
    if args.resume:  # the run's own languages are used
        train_kwargs.setdefault("src_lang", "-")
        train_kwargs.setdefault("tgt_lang", "-")
    else:
        required += [("--src-lang", "src_lang"), ("--tgt-lang", "tgt_lang")]
    for flag, name in required:
        if not train_kwargs.get(name):
            raise_usage(f"{flag} is required" + (f" (it is not in {args.config} either)" if args.config else ""))
    arch = model_flags.get("arch") or model_file.get("arch") or (recipe.arch if recipe else "rnn")
    # A config file has its sizes; without one, the recipe's or the architecture's default size (registry.py).
    size = args.preset or (recipe.preset if recipe else None)
    sizes = {} if args.config and not args.preset else preset_sizes(arch, size)
    model_kwargs = {**model_file, **sizes, **(recipe.model if recipe else {}), **model_flags, "arch": arch}
    if not args.config:
        return ModelConfig.from_dict(model_kwargs), TrainConfig.from_dict(train_kwargs)
    where = args.config if not (model_flags or train_flags or sizes) else f"{args.config} with the options given"
    try:
        model_cfg, train_cfg = ModelConfig.from_dict(model_kwargs), TrainConfig.from_dict(train_kwargs)
        if not args.resume:  # a resumed run is checked against its saved configs
            validate(model_cfg, train_cfg)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return model_cfg, train_cfg


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
    from s2s_desktop.engine.config import validate
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
        validate(model_cfg, train_cfg)
    launch(CLI_MODULE, args.argv, nproc, args.nnodes, args.node_rank, args.master_addr, args.master_port)
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
        from s2s_desktop.engine.models.registry import describe_model

        print(f"model: {describe_model(event.model)}, {event.num_params:,} parameters", file=out)
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
            f"eval step {event.step} | val loss {event.loss:.3f} ppl {event.ppl:.2f} | "
            + " ".join(f"{metrics.label(k)} {v:.2f}" for k, v in event.scores.items())
            + f" | decode {event.decode_seconds:.1f}s{best}",
            file=out,
        )
    elif kind == "samples" and not quiet:
        for s in event.samples:
            print(f"  src: {s.source}\n  ref: {s.reference}\n  hyp: {s.hypothesis}", file=out)
    elif kind == "notice":
        print(f"note: {event.message}", file=out)
    elif kind == "finished":
        scores = metrics.format_scores(event.best_scores)
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
