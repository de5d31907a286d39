"""Airflow DAG: land third-party partner CSV drops, one YAML contract per partner.

- **Contracts** live in `plugins/engagement_warehouse/sources/contracts/`.
- **Reads** `raw/partner/<partner>/YYYY/MM/DD/*.csv`, decoded and validated by each partner's YAML contract.
- **Writes** `staged/partner_<partner>/`, `quarantine/partner_<partner>/` and the tables `raw.partner_<partner>`.
  A file with plaintext emails in a hashed column is quarantined whole, never landed.
- **Schedule** daily (UTC); each run lands every file not yet landed up to the end of its day.
- **Produces** the asset `raw_partner`, which (with the other raw assets) triggers `build_marts`.
- **Rerun** lands nothing twice (landing ledger; tables rebuilt from the staged layer).
- A new partner is a new contract file and its dbt staging model: no change here.
"""

from engagement_warehouse.orchestration import RAW_PARTNER, ingest_dag

ingest_dag("ingest_partner", __doc__, None, RAW_PARTNER)
