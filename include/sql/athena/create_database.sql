-- The Glue database holding the raw tables (EWH_ATHENA_DATABASE, default EWH_RAW_SCHEMA or raw).
CREATE DATABASE IF NOT EXISTS $database
