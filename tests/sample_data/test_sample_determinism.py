from pathlib import Path

from .conftest import run_into


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tiny, tmp_path):
    again = run_into(tmp_path / "again")
    first, second = _snapshot(tiny.root), _snapshot(again.root)
    assert first.keys() == second.keys()
    assert first == second
    assert again.summary.rows == tiny.summary.rows
    assert again.summary.files_written == tiny.summary.files_written


def test_rerun_into_the_same_lake_overwrites_in_place(tmp_path):
    run = run_into(tmp_path / "lake", users=8, days=1)
    before = _snapshot(run.root)
    run_into(tmp_path / "lake", users=8, days=1)
    assert _snapshot(run.root) == before


def test_different_seed_gives_different_data(tiny, tmp_path):
    other = run_into(tmp_path / "other", seed=8)
    assert _snapshot(other.root) != _snapshot(tiny.root)
    assert other.summary.rows["clickstream"] != tiny.summary.rows["clickstream"]


def test_gzip_headers_carry_no_mtime_and_no_name(tiny):
    gz = [p for p in tiny.root.rglob("*") if p.is_file() and p.read_bytes()[:2] == b"\x1f\x8b"]
    assert gz, "expected gzip objects"
    for path in gz:
        header = path.read_bytes()[:10]
        assert header[3] & 0x08 == 0, f"{path} has FNAME set"
        assert header[4:8] == b"\x00\x00\x00\x00", f"{path} has an mtime"


def test_files_written_lists_every_object(tiny):
    on_disk = {str(p.relative_to(tiny.root)) for p in tiny.root.rglob("*") if p.is_file()}
    assert set(tiny.summary.files_written) == on_disk
    assert len(tiny.summary.files_written) == sum(tiny.summary.files.values())
