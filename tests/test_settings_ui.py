"""Settings coercion, and the Schedule/Emphasis tab functions the callbacks call."""

import pytest

from lib_ti.core.settings import SPEC_BY_KEY, Settings, coerce
from lib_ti.ui.emphasis_tab import apply_preset, render_inverse, render_segments
from lib_ti.ui.schedule_tab import analyze, build_preset


@pytest.mark.parametrize("key,value,expected", [
    ("tilab_preset_shortcut", "false", False),
    ("tilab_preset_shortcut", 1, True),
    ("tilab_blip_num_beams", "4", 4),
    ("tilab_blip_num_beams", "four", 3),
    ("tilab_emphasis_output", "bold", "explicit"),
    ("tilab_dataset_dup_threshold", "0.9", 0.9),
])
def test_coerce(key, value, expected):
    assert coerce(SPEC_BY_KEY[key], value) == expected


def test_settings_defaults_and_weights():
    s = Settings({"tilab_preset_weights": "nonsense"})
    assert s.preset_weights() == [0.5, 0.62, 0.75, 0.9, 1.1, 1.3]
    assert s.get("tilab_emphasis_output") == "explicit"


def test_analyze_reports_position_instead_of_raising():
    html, plot, rows = analyze("0.1:1e3", 1000, 0)
    assert "character 5" in html and 'class="tilab-fault">1<' in html and plot == "" and rows == []


def test_analyze_good_string():
    html, plot, rows = analyze("5e-2:100,5e-3", 1000, 0)
    assert "1000</b> updates" in html and plot.startswith("<svg") and "5e-3" in plot
    assert rows == [["5e-2", 0, 99, 100], ["5e-3", 100, 999, 900]]


@pytest.mark.parametrize("max_steps", [0, -5, "x"])
def test_analyze_bad_numbers(max_steps):
    html, plot, _ = analyze("0.1", max_steps, 0)
    assert "tilab-error" in html and plot == ""


def test_build_preset_errors_are_shown():
    string, err = build_preset("constant", 0)
    assert string == "" and "greater than 0" in err


def test_emphasis_tab_functions():
    assert "0.6209" in render_segments("[[[[[x]]]]]")
    assert "character 4" in render_segments("(x:1.2.3)")
    assert "[[[[[x]]]]]" in render_inverse("x", 0.62)
    new, status = apply_preset("a photo of name", "name", "0.75", "explicit")
    assert new == "a photo of (name:0.75)" and "0.75" in status
    same, status = apply_preset("a photo", "name", "0.75", "explicit")
    assert same == "a photo" and "does not occur" in status


def test_no_two_remembered_inputs_share_a_label(tmp_path):
    """The host keys remembered values by label; shared labels must be excluded from remembering."""
    from lib_ti.core.context import standalone_context
    from lib_ti.ui.app import build_blocks

    blocks = build_blocks(standalone_context(tmp_path))
    saved = [b.label for b in blocks.blocks.values()
             if getattr(b, "label", None) and not getattr(b, "do_not_save_to_config", False)]
    assert len(saved) == len(set(saved))
    schedule_floor = [b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "tilab_schedule_warmup_floor"]
    assert schedule_floor and schedule_floor[0].do_not_save_to_config
