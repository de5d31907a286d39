"""engagement-warehouse: land, model, gate and activate customer-engagement data."""
