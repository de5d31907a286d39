from datetime import date, timedelta

import pytest

from engagement_warehouse.sample_data import generate

from .conftest import END, run_into


def test_more_users_and_more_days_mean_more_rows(tiny, tmp_path):
    more_users = run_into(tmp_path / "u", users=80)
    more_days = run_into(tmp_path / "d", days=9)
    for source in ("clickstream", "pinpoint_events", "pinpoint_endpoints"):
        assert more_users.summary.rows[source] > tiny.summary.rows[source], source
    assert more_days.summary.rows["clickstream"] > 2 * tiny.summary.rows["clickstream"]
    assert sum(more_users.summary.personas.values()) == 80


def test_clickstream_prefixes_cover_exactly_the_window(tiny):
    days = {tuple(p.relative_to(tiny.root / "raw" / "clickstream").parts[:3]) for p in tiny.files("clickstream")}
    expected = {(f"{d:%Y}", f"{d:%m}", f"{d:%d}") for d in (END - timedelta(days=k) for k in range(3))}
    assert days == expected
    assert tiny.summary.start_date == date(2026, 11, 20)


def test_small_objects_split_hours_without_changing_content(tiny, tmp_path):
    split = run_into(tmp_path / "split", max_lines_per_object=5)
    assert split.summary.files["clickstream"] > tiny.summary.files["clickstream"]
    assert split.summary.rows == tiny.summary.rows

    def messages(run):  # the torn line is cut from whichever object it lands in: compare the valid ones
        return sorted(line for _, line in run.lines("clickstream") if line.endswith("}"))

    assert messages(split) == messages(tiny)


def test_rejects_empty_windows(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path.as_uri(), 0, 3, 7, END, application_id="x")
    with pytest.raises(ValueError):
        generate(tmp_path.as_uri(), 5, 0, 7, END, application_id="x")
