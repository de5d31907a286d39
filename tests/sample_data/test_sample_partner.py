import csv
import io
from pathlib import Path

import yaml

from engagement_warehouse.pii import email_sha256
from engagement_warehouse.sample_data.people import UserFactory

CONTRACT = Path(__file__).resolve().parents[2] / "plugins/engagement_warehouse/sources/contracts/acme_loyalty.yml"


def _rows(run, day):
    (path,) = [p for p in run.files("partner/acme_loyalty") if p.name == f"acme_loyalty_202611{day}.csv"]
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"))))


def test_files_follow_the_contract_and_layout(week):
    contract = yaml.safe_load(CONTRACT.read_text())
    names = [c["name"] for c in contract["columns"]]
    files = week.files("partner/acme_loyalty")
    assert [str(p.relative_to(week.root)) for p in files] == [
        "raw/partner/acme_loyalty/2026/11/15/acme_loyalty_20261115.csv",
        "raw/partner/acme_loyalty/2026/11/22/acme_loyalty_20261122.csv",
    ]
    for path in files:
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == names
    assert len(_rows(week, "15")) + len(_rows(week, "22")) == week.summary.rows["partner_acme_loyalty"]


def test_keys_are_hashes_of_user_emails_and_one_required_value_is_missing(week):
    factory = UserFactory(7, 60, 10, 0)
    hashes = {email_sha256(factory.get(i).email) for i in range(60)}
    latest = _rows(week, "22")
    assert latest
    for row in latest:
        assert len(row["email_sha256"]) == 64 and row["email_sha256"] in hashes
        assert row["loyalty_tier"] in {"bronze", "silver", "gold", "platinum"}
    missing = [r for r in latest if not r["points_balance"]]
    assert len(missing) == week.summary.dirt["partner_missing_required"] == 1
    assert all(r["points_balance"].isdigit() for r in _rows(week, "15"))
    assert len({r["email_sha256"] for r in latest}) == len(latest)
    assert len(latest) < 60  # only a subset of users are members
