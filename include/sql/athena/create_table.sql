-- An external table over the source's staged prefix; the Parquet files are read in place, never copied.
CREATE EXTERNAL TABLE IF NOT EXISTS $table (
$columns
)
PARTITIONED BY ($partition_columns)
STORED AS PARQUET
LOCATION $location
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
