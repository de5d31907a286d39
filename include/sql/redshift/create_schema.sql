-- The schema holding the registered raw tables (EWH_RAW_SCHEMA, default raw).
CREATE SCHEMA IF NOT EXISTS $schema
