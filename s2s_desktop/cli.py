"""`s2s`: the command-line front end of the engine (train, translate, evaluate, info).

User errors print one line, `s2s: error: ...`, and exit with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import MISSING, fields
from pathlib import Path

from s2s_desktop import __version__
from s2s_desktop.errors import S2SError

EXIT_USAGE = 2

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


def build_parser() -> argparse.ArgumentParser:
    from s2s_desktop.engine.api import ModelConfig, TrainConfig

    parser = argparse.ArgumentParser(prog="s2s", description="Train, run and inspect translation models.")
    parser.add_argument("--version", action="version", version=f"s2s-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

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

    tr = sub.add_parser("translate", help="translate text with a model file")
    tr.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in English→German model)")
    tr.add_argument("text", nargs="*", help="sentences to translate (default: lines from stdin)")
    _add_decode_options(tr)
    tr.add_argument("--json", action="store_true", help="one JSON object per input line (scores, tokens, attention)")
    tr.add_argument("--input", metavar="FILE", help="translate this file line by line")
    tr.add_argument("--output", metavar="FILE", help="write translations here (with --input; shows progress)")
    tr.add_argument("--prefix", metavar="TEXT", help="force the translation to start with TEXT (what-if)")
    tr.add_argument("--split-sentences", action="store_true",
                    help="split each input line into sentences and translate them one by one")

    ev = sub.add_parser("evaluate", help="BLEU and chrF of a model on a test set")
    ev.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in model)")
    ev.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    ev.add_argument("--ref", required=True, metavar="FILE", help="reference translations, aligned with --src")
    _add_decode_options(ev)
    ev.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU and chrF")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--hyp-out", metavar="FILE", help="also write the translations to FILE")

    avg = sub.add_parser("average", help="average the weights of several saves of one run")
    avg.add_argument("--out", required=True, metavar="FILE", help="the averaged model file to write")
    avg.add_argument("models", nargs="+", metavar="MODEL", help="model files of one run (e.g. step-*.s2s)")
    avg.add_argument("--half", action="store_true",
                     help="store the weights as float16 (half the size); with one MODEL, just convert it")

    info = sub.add_parser("info", help="describe a model file")
    info.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in model)")
    info.add_argument("--json", action="store_true")
    return parser


def _add_decode_options(p) -> None:
    p.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy; default: 5)")
    p.add_argument("--nbest", type=int, default=1, help="hypotheses returned per input (<= beam)")
    p.add_argument("--length-penalty", type=float, default=1.0, metavar="A", help="GNMT length penalty alpha")
    p.add_argument("--max-len-a", type=float, default=1.5, metavar="A", help="output limit: A * source length + B")
    p.add_argument("--max-len-b", type=int, default=10, metavar="B")
    p.add_argument("--min-len", type=int, default=0, metavar="N", help="no end of sentence before N pieces")
    p.add_argument("--batch-tokens", type=int, default=4000, help="source tokens x beam per batch")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"],
                   help="decoder matmul precision: auto = bf16 on CUDA, int8 on CPUs with fbgemm, else bf16 (native "
                        "bf16 CPUs) or fp32")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what the processes of a distributed run get
    handler = {"train": cmd_train, "translate": cmd_translate, "evaluate": cmd_evaluate, "info": cmd_info,
               "average": cmd_average}
    try:
        return handler[args.command](args)
    except S2SError as exc:
        if not _secondary_rank(args):
            print(f"s2s: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("s2s: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # e.g. an output file in a folder that does not exist, or a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"s2s: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


# -- train -----------------------------------------------------------------------------------------
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
    from s2s_desktop.engine.presets import preset

    sizes = preset(args.arch, args.preset) if args.preset else {}
    if args.arch == "transformer" and not args.preset:
        sizes = preset("transformer", "small")
    model_cfg = ModelConfig(arch=args.arch, **{**sizes, **_collect(args, ModelConfig, MODEL_HELP)})
    return model_cfg, train_cfg


def train_argv(model: dict, train: dict) -> list[str]:
    """`s2s train ...` arguments that rebuild these configs (the app starts distributed runs this way)."""
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
    from s2s_desktop.engine.distributed import launched, launched_rank
    from s2s_desktop.engine.training import train

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
    from s2s_desktop.engine.distributed import check_launch, launch, launched

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
    from s2s_desktop.engine.distributed import launched_rank

    return launched_rank() > 0


def raise_usage(message: str):
    from s2s_desktop.errors import ConfigError

    raise ConfigError(message)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


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


# -- translate / evaluate / info -------------------------------------------------------------------
def _decode_options(args):
    from s2s_desktop.engine.api import DecodeOptions

    return DecodeOptions(
        beam=args.beam, nbest=args.nbest, length_penalty=args.length_penalty, max_len_a=args.max_len_a,
        max_len_b=args.max_len_b, min_len=args.min_len,
        alternatives=5 if getattr(args, "json", False) and args.command == "translate" else 0,
    )


def model_or_bundled(args) -> str:
    """--model, or the English→German model that ships with the app when none is given."""
    if args.model:
        return args.model
    from s2s_desktop.assets import bundled_model

    path = bundled_model()
    if path is None:
        raise_usage("no --model given, and this installation has no built-in model")
    return str(path)


def cmd_translate(args) -> int:
    from s2s_desktop.engine.service import Translator, validate_options

    opts = _decode_options(args)
    validate_options(opts)
    if args.input and args.text:
        raise_usage("give either TEXT arguments or --input FILE, not both")
    if args.output and not args.input:
        raise_usage("--output needs --input FILE")
    translator = Translator.open(model_or_bundled(args), args.device, args.threads, args.precision)
    if args.input and args.output and not args.json:
        def progress(done, total):
            elapsed = time.perf_counter() - start
            eta = elapsed / max(done, 1) * (total - done)
            print(f"\r{done}/{total} lines, {done / max(elapsed, 1e-9):.1f} lines/s, ETA {_clock(eta)}",
                  end="", file=sys.stderr, flush=True)

        start = time.perf_counter()
        summary = translator.translate_file(args.input, args.output, opts, progress)
        print(f"\nwrote {summary.lines} lines to {summary.output} in {summary.seconds:.1f}s", file=sys.stderr)
        return 0
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.text:
            _translate_chunk(translator, args.text, opts, args, out)
        elif args.input:
            from s2s_desktop.engine.corpus import read_lines

            lines = read_lines(args.input)
            for i in range(0, len(lines), 256):
                _translate_chunk(translator, lines[i : i + 256], opts, args, out)
        else:
            batch: list[str] = []
            for line in sys.stdin:
                batch.append(line.rstrip("\r\n"))
                if len(batch) >= 64:
                    _translate_chunk(translator, batch, opts, args, out)
                    batch = []
            if batch:
                _translate_chunk(translator, batch, opts, args, out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _translate_chunk(translator, lines, opts, args, out) -> None:
    prefixes = [args.prefix] * len(lines) if args.prefix else None
    if args.split_sentences and not args.json:
        for line in lines:
            out.write(translator.translate_paragraph(line, opts).text + "\n")
        out.flush()
        return
    results = translator.translate(lines, opts, batch_tokens=args.batch_tokens, prefixes=prefixes)
    for r in results:
        if args.json:
            out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        elif opts.nbest > 1:
            for c in r.nbest:
                out.write(f"{c.score:.4f}\t{c.text}\n")
            out.write("\n")
        else:
            out.write(r.text + "\n")
    out.flush()


def cmd_evaluate(args) -> int:
    from s2s_desktop.engine.corpus import read_lines
    from s2s_desktop.engine.metrics import score
    from s2s_desktop.engine.service import Translator

    opts = _decode_options(args)
    src = read_lines(args.src)
    ref = read_lines(args.ref)
    if len(src) != len(ref):
        raise_usage(f"{args.src} has {len(src)} lines but {args.ref} has {len(ref)}; they must be aligned")
    translator = Translator.open(model_or_bundled(args), args.device, args.threads, args.precision)
    start = time.perf_counter()
    hyps = [t.text for t in translator.translate(src, opts, batch_tokens=args.batch_tokens)]
    seconds = time.perf_counter() - start
    if args.hyp_out:
        Path(args.hyp_out).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    s = score(hyps, ref, lowercase=args.lowercase)
    result = {
        "bleu": round(s.bleu, 2), "chrf": round(s.chrf, 2), "bleu_signature": s.bleu_signature,
        "chrf_signature": s.chrf_signature, "bleu_detail": s.bleu_detail, "sentences": len(src),
        "seconds": round(seconds, 2), "sentences_per_sec": round(len(src) / max(seconds, 1e-9), 1),
        "beam": opts.beam,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"BLEU = {s.bleu:.2f}  {s.bleu_detail}")
        print(f"  {s.bleu_signature}")
        print(f"chrF = {s.chrf:.2f}")
        print(f"  {s.chrf_signature}")
        print(f"{len(src)} sentences in {seconds:.1f}s ({result['sentences_per_sec']} sentences/s, beam {opts.beam})")
    return 0


def cmd_average(args) -> int:
    from s2s_desktop.engine.checkpoint import average_models

    loaded = average_models(args.models, args.out, half=args.half)
    done = f"averaged {len(args.models)} models into" if len(args.models) > 1 else "converted to float16:"
    print(f"{done} {args.out} ({loaded.model.num_parameters():,} parameters)")
    return 0


def cmd_info(args) -> int:
    from s2s_desktop.engine.service import Translator

    path = model_or_bundled(args)
    info = Translator.open(path, "cpu").info()
    info["path"] = path
    size = info["file_size"]
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    m = info["model"]
    print(f"{info['path']}  ({size / 1e6:.1f} MB, {info['storage']})")
    print(f"  languages   {info['src_lang']} -> {info['tgt_lang']}")
    if m["arch"] == "transformer":
        print(f"  model       transformer {m['encoder_layers']}+{m['decoder_layers']} layers, d_model {m['emb_size']}, "
              f"{m['heads']} heads, feed-forward {m['ff_size']}")
    else:
        print(f"  model       {m['arch']} {m['cell']} {m['attention']}, emb {m['emb_size']}, encoder "
              f"{m['encoder_layers']}x{m['encoder_hidden']}x2, decoder {m['decoder_layers']}x{m['decoder_hidden']}")
    print(f"  parameters  {info['parameters']:,}")
    print(f"  vocabulary  {info['src_vocab']} / {info['tgt_vocab']}{' (joint)' if info['joint_vocab'] else ''}")
    tr = info["training"]
    if tr:
        best = tr.get("best", {})
        print(f"  training    {tr.get('steps', '?')} steps, {tr.get('epochs', '?')} epochs, "
              f"{tr.get('train_seconds', 0) / 60:.1f} min on {tr.get('device', '?')}, corpus {tr.get('corpus', '?')}")
        if best:
            print("  best        " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in best.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
