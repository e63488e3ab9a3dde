"""A run folder's metrics.jsonl and the settings file, with hostile lines and values: the readers either
succeed (skipping what they cannot use) or raise the project's own error."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.events import EVENT_TYPES
from s2s_desktop.settings import Settings
from tests.fuzz.hostile import FUZZ, VALUES, dumps, hostile


@st.composite
def event_lines(draw):
    """An event of a known kind with hostile field values, or a line that is not one."""
    kind = draw(st.sampled_from(sorted(EVENT_TYPES)))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(['{"event": "step"', "\x00\xff", "[]", "null", '{"event": 5}', "{" * 2000]))
    data = {"event": kind}
    for f in fields(EVENT_TYPES[kind]):
        if draw(st.booleans()):
            data[f.name] = draw(VALUES)
    return dumps(data)


CONFIG = {"model": {"arch": "transformer"}, "train": {"src_lang": "en", "tgt_lang": "de"}}


@given(st.lists(event_lines(), min_size=1, max_size=12),
       st.just(CONFIG) | VALUES | st.dictionaries(st.sampled_from(["model", "train"]), VALUES))
@FUZZ
def _metrics(child, path, lines, config):
    (path.parent / "config.json").write_text(dumps(config), encoding="utf-8", errors="surrogatepass")
    child.holds(path, hostile("\n".join(lines).encode("utf-8", "surrogatepass"), repr(lines)))


def test_a_hostile_metrics_log_and_config_replay_or_are_refused_by_name(isolated, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _metrics(isolated("metrics"), run / "metrics.jsonl")


SETTINGS = {"schema_version": 1}


SETTING_NAMES = sorted({f.name for f in fields(Settings)})
DECODE_NAMES = sorted({f.name for f in fields(DecodeOptions)})


@given(st.dictionaries(st.text(max_size=20) | st.sampled_from(SETTING_NAMES), VALUES, max_size=8),
       st.dictionaries(st.sampled_from(DECODE_NAMES), VALUES, max_size=4))
@FUZZ
def _settings(child, path, data, decode):
    if decode:
        data = {**data, "decode": decode}
    child.holds(path, dumps({**SETTINGS, **data}).encode("utf-8", "surrogatepass"))


def test_a_hostile_settings_file_gives_defaults_or_a_named_error(isolated, tmp_path):
    _settings(isolated("settings"), tmp_path / "settings.json")
