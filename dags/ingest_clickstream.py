"""Airflow DAG: land web/app clickstream events (Segment tracking spec, as Firehose writes them) into the warehouse.

- **Reads** `raw/clickstream/YYYY/MM/DD/HH/` in the lake (gzip or plain JSON lines).
- **Writes** `staged/clickstream/dt=/hour=/` (Parquet), `quarantine/clickstream/` (refused rows with a reason),
  and the warehouse table `raw.clickstream_events`.
- **Schedule** daily (UTC); each run lands every object not yet landed up to the end of its day.
- **Produces** the asset `raw_clickstream`, which (with the other raw assets) triggers `build_marts`.
- **Rerun** lands nothing twice: the landing ledger skips objects already landed, and the table is rebuilt from
  the staged layer.
"""

from engagement_warehouse.orchestration import RAW_CLICKSTREAM, ingest_dag

ingest_dag("ingest_clickstream", __doc__, ["clickstream"], RAW_CLICKSTREAM)
