"""Training events survive the trip through metrics.jsonl (and the training child's pipe) as the same
dataclasses: every kind, nested values included; unknown kinds are skipped, unknown fields ignored."""

from __future__ import annotations

import json

import pytest

from s2s_desktop.engine.api import (
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
from s2s_desktop.errors import CheckpointError

EXAMPLES = [
    RunStarted("runs/a", "cpu (2 threads)", 12345, 0, DataSummary(900, 100, 1, 2, 3, 800, 800, 7.5, 8.25, "split"),
               {"arch": "rnn", "emb_size": 16}, {"lr": 0.001, "max_steps": None}),
    StepReport(20, 0, 3.5, 3.25, 1e-3, 1234.5, 0.75, 20_000, 12.5),
    EvalReport(100, 1, 2.0, 7.39, {"bleu": 21.5, "chrf": 40.25}, True, "chrf", 60.0, 1.5),
    SampleTranslations(100, (Sample("eins zwei", "two one", "two one", ("▁eins", "▁zwei", "</s>"), ("▁two", "</s>"),
                                    ((0.25, 0.75, 0.0), (0.0, 0.0, 1.0))),
                             Sample("drei", "three", "tree"))),
    ModelSaved(100, "runs/a/best.s2s", "best"),
    Notice(101, "validation did not improve: learning rate cut to 0.0005"),
    Finished(200, "max-steps", "runs/a/best.s2s", 100, {"loss": 2.0, "ppl": 7.39, "bleu": 21.5}, 120.0),
    Failed(150, "the loss was NaN"),
]


def through_a_line(event: Event) -> Event | None:
    return Event.from_json(json.loads(json.dumps(event.to_json(), ensure_ascii=False)))


def test_every_event_kind_round_trips_through_json():
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())
    for event in EXAMPLES:
        back = through_a_line(event)
        assert back == event and type(back) is type(event), event.kind
    started = through_a_line(EXAMPLES[0])
    assert isinstance(started.data, DataSummary) and started.data.mean_tgt_len == 8.25
    samples = through_a_line(EXAMPLES[3]).samples
    assert isinstance(samples, tuple) and isinstance(samples[0], Sample)
    assert samples[0].attention[1] == (0.0, 0.0, 1.0) and samples[0].target_tokens == ("▁two", "</s>")


def test_from_json_dispatches_on_the_kind_whatever_class_it_is_called_on():
    assert isinstance(StepReport.from_json(EXAMPLES[4].to_json()), ModelSaved)


def test_an_unknown_kind_is_skipped_and_unknown_fields_are_ignored():
    assert Event.from_json({"event": "hologram", "step": 3, "colour": "blue"}) is None
    assert Event.from_json({"no": "kind"}) is None and Event.from_json(["not", "an", "object"]) is None
    newer = {**EXAMPLES[1].to_json(), "gpu_temperature": 61}
    newer_started = EXAMPLES[0].to_json()
    newer_started["data"]["dedup_pairs"] = 4  # a field a newer DataSummary has
    assert Event.from_json(newer) == EXAMPLES[1] and Event.from_json(newer_started) == EXAMPLES[0]


def test_an_eval_line_of_the_earlier_layout_gets_its_scores():
    old = {"event": "eval", "step": 40, "epoch": 0, "loss": 2.0, "ppl": 7.4, "bleu": 21.0, "chrf": 40.0,
           "is_best": True, "metric": "chrf", "elapsed": 10.0, "decode_seconds": 1.0}
    event = Event.from_json(old)
    assert event == EvalReport(40, 0, 2.0, 7.4, {"bleu": 21.0, "chrf": 40.0}, True, "chrf", 10.0, 1.0)


def test_a_known_kind_with_missing_fields_is_an_error_naming_the_kind():
    with pytest.raises(CheckpointError, match="'step'"):
        Event.from_json({"event": "step", "step": 20})
    with pytest.raises(CheckpointError, match="'samples'"):
        Event.from_json({"event": "samples", "step": 1, "samples": [{"source": "x"}]})
