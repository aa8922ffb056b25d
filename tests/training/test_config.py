"""The training configuration is the one source of the CLI's options, the Train tab's inputs and the resume check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lib_ti.training import config as C
from lib_ti.training.config import TrainConfig, Spec, defaults, resume_problems, setting, specs


def test_every_field_has_a_spec_and_help():
    table = specs()
    assert set(table) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(isinstance(s, Spec) and s.help for s in table.values())


def test_a_new_field_without_metadata_fails_loudly():
    @dataclasses.dataclass
    class Grown(TrainConfig):
        new_knob: int = 3

    with pytest.raises(TypeError, match="'new_knob' has no Spec"):
        specs(Grown)


def test_a_new_field_with_a_spec_joins_the_resume_check():
    @dataclasses.dataclass
    class Grown(TrainConfig):
        noise_offset: float = setting(0.0, "noise offset", resume=C.MUST_MATCH)

    assert resume_problems({"noise_offset": 0.0}, {"noise_offset": 0.1}, Grown) == [
        "noise_offset was 0.0 in that run, now 0.1"]


# the old hand-kept list, kept here as the specification of what an exact resume must match
HAND_KEPT = {"name", "data_dir", "template", "learn_rate", "batch_size", "grad_accum", "width", "height",
             "latent_method", "shuffle_tags", "tag_dropout", "flip_p", "clip_grad_mode", "clip_grad_value", "seed",
             "clip_skip", "emphasis", "filename_word_regex", "filename_join"}


def test_resume_marks_cover_the_settings_that_shape_the_random_streams():
    marks = {n for n, s in specs().items() if s.resume == C.MUST_MATCH}
    assert marks == HAND_KEPT and specs()["steps"].resume == C.MAY_GROW


@pytest.mark.parametrize("saved, now, ok", [
    ({"steps": 150}, {"steps": 190}, True),      # an exact resume may extend max steps
    ({"steps": 150}, {"steps": 150}, True),
    ({"steps": 150}, {"steps": 100}, False),
    ({"seed": 1}, {"seed": 2}, False),
    ({"preview_every": 5}, {"preview_every": 50}, True),  # previews do not touch the training streams
])
def test_resume_problems(saved, now, ok):
    assert (resume_problems(saved, now) == []) is ok


def test_from_mapping_coerces_ui_values_and_refuses_unknown_keys(tmp_path):
    cfg = TrainConfig.from_mapping(dict(name="z", data_dir=str(tmp_path), run_dir=tmp_path, embeddings_dir=tmp_path,
                                        steps=10.0, tag_dropout="0.5", preview_prompts="a [name]\n\nb [name]\n",
                                        shuffle_tags=1))
    assert cfg.steps == 10 and cfg.tag_dropout == 0.5 and cfg.shuffle_tags is True
    assert cfg.preview_prompts == ("a [name]", "b [name]") and cfg.data_dir == Path(tmp_path)
    with pytest.raises(KeyError, match="stpes"):
        TrainConfig.from_mapping({"stpes": 3})
    with pytest.raises(ValueError, match="whole number"):
        TrainConfig.from_mapping(dict(name="z", data_dir=tmp_path, run_dir=tmp_path, embeddings_dir=tmp_path,
                                      steps=2.5))


def test_problems_lists_every_bad_field_at_once(tmp_path):
    cfg = TrainConfig(name=" ", data_dir=tmp_path, run_dir=tmp_path, embeddings_dir=tmp_path, width=60,
                      learn_rate="0.1:1e3", latent_method="sometimes", preview_sampler="DDIM")
    text = "\n".join(cfg.problems())
    for part in ("name is empty", "Width", "Learning rate", "Latent sampling must be one of once",
                 "Preview sampler must be one of"):
        assert part in text
    with pytest.raises(ValueError, match="Width"):
        cfg.validate()


def test_defaults_are_written_once():
    d = defaults()
    assert d["steps"] == 500 and d["save_every"] == 500 and d["preview_every"] == 500
    assert specs()["precision"].choices == C.PRECISIONS and specs()["latent_method"].choices == C.LATENT_METHODS
