"""Airflow DAG: land the Amazon Pinpoint event stream and endpoint exports into the warehouse.

- **Reads** `raw/pinpoint_events/YYYY/MM/DD/HH/` (JSON lines or Parquet, as Firehose writes them) and
  `raw/pinpoint_endpoints/YYYY/MM/DD/` (JSON lines, as CreateExportJob writes them).
- **Writes** `staged/pinpoint_events/`, `staged/pinpoint_endpoints/`, their quarantine folders, and the warehouse
  tables `raw.pinpoint_events` and `raw.pinpoint_endpoints`.
- **Schedule** daily (UTC); each run lands every object not yet landed up to the end of its day.
- **Produces** the asset `raw_engagement`, which (with the other raw assets) triggers `build_marts`.
- **Rerun** lands nothing twice (landing ledger; tables rebuilt from the staged layer).
"""

from engagement_warehouse.orchestration import RAW_ENGAGEMENT, ingest_dag

ingest_dag("ingest_engagement", __doc__, ["pinpoint_events", "pinpoint_endpoints"], RAW_ENGAGEMENT)
