"""`s2s train --recipe NAME`: a recipe means the command it was measured with, and flags override it."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from s2s_desktop.cli import build_parser
from s2s_desktop.cli.train import train_configs
from s2s_desktop.engine.models.presets import RECIPES
from tests.test_cli import assert_usage_error, run_cli

DATA = ["--train-src", "train.en.gz", "--train-tgt", "train.de.gz", "--valid-src", "val.en.gz", "--valid-tgt",
        "val.de.gz", "--src-lang", "en", "--tgt-lang", "de", "--out", "runs/x"]
# The commands of docs/benchmarks.md and resources/models/README.md, copied as they are written there.
DOCUMENTED = {
    "multi30k-rnn": "--arch rnn --cell gru --attention luong-general --max-minutes 45 --lr 1.5e-3 --warmup-steps 100 "
                    "--batch-tokens 3000 --valid-every 300 --log-every 50 --patience 12",
    "multi30k-transformer": "--arch transformer --preset tiny --joint-vocab --share-embeddings --tie-output "
                            "--sp-model-type bpe --vocab-size 10000 --dropout 0.3 --label-smoothing 0.1 --lr 5e-3 "
                            "--schedule inverse-sqrt --warmup-steps 1000 --adam-beta2 0.98 --clip-norm 25 "
                            "--batch-tokens 4096 --valid-every 250 --keep-last 5 --patience 0 --max-minutes 50",
    "tatoeba-transformer": "--arch transformer --preset small --joint-vocab --share-embeddings --tie-output "
                           "--sp-model-type bpe --vocab-size 8000 --batch-tokens 4096 --dropout 0.1 "
                           "--label-smoothing 0.1 --lr 3e-3 --schedule cosine --warmup-steps 400 --min-lr 1e-5 "
                           "--adam-beta2 0.98 --clip-norm 25 --max-steps 1500 --valid-every 150 --valid-sample 500 "
                           "--keep-last 4 --patience 0",
}


def configs(*argv: str):
    return train_configs(build_parser().parse_args(["train", *DATA, *argv]))


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_a_recipe_is_its_documented_command(name: str) -> None:
    assert configs("--recipe", name) == configs(*shlex.split(DOCUMENTED[name]))


def test_the_app_defaults_are_recipes_too() -> None:
    model, train = configs("--recipe", "transformer")
    assert (model.arch, model.transformer.encoder_layers, model.tie_output) == ("transformer", 3, True)
    assert (train.lr, train.schedule, train.adam_beta2, train.sp_model_type) == (5e-3, "inverse-sqrt", 0.98, "bpe")
    model, train = configs("--recipe", "rnn")
    assert (model.arch, model.dropout, train.lr, train.schedule) == ("rnn", 0.2, 1.5e-3, "plateau")


def test_flags_override_the_recipe() -> None:
    base_model, base_train = configs("--recipe", "multi30k-transformer")
    model, train = configs("--recipe", "multi30k-transformer", "--preset", "small", "--heads", "8", "--no-tie-output",
                           "--lr", "0.001", "--patience", "3")
    small, _ = configs("--arch", "transformer", "--preset", "small")
    assert model == dataclasses.replace(base_model, emb_size=small.emb_size, ff_size=small.transformer.ff_size,
                                        encoder_layers=3, decoder_layers=3, heads=8, tie_output=False)
    assert train == dataclasses.replace(base_train, lr=0.001, patience=3)
    assert model.share_embeddings and train.keep_last == 5  # the recipe's other values stay


def test_recipe_mistakes_are_one_line_errors(capsys, tmp_path) -> None:
    args = ["train", *DATA[:-1], str(tmp_path / "run")]
    msg = assert_usage_error(*run_cli(capsys, *args, "--recipe", "multi30k-rnn", "--arch", "transformer"))
    assert "--recipe multi30k-rnn is for --arch rnn" in msg
    msg = assert_usage_error(*run_cli(capsys, *args, "--recipe", "rnn", "--resume"))
    assert "--recipe" in msg and "--resume" in msg
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, *args, "--recipe", "nope")
    assert exit_info.value.code == 2 and "multi30k-rnn" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_help_lists_the_recipes(capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "train", "--help")
    lines = capsys.readouterr().out.splitlines()
    listed = lines[lines.index("recipes (--recipe NAME):") + 1:]
    assert [line.split()[0] for line in listed] == list(RECIPES)
    assert all(line.endswith(r.summary) for line, r in zip(listed, RECIPES.values()))
