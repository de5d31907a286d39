"""Destinations: push the gated marts' desired state to engagement tools (Amazon Pinpoint today).

`base.py` is the interface, `export_contract.py` reads it from the dbt manifest, `state.py` and
`ledger.py` keep the sync state and ledger in the warehouse, `sync.py` is the generic endpoint sync, and
`pinpoint/` is the only place that knows Pinpoint's payload shapes.
"""
