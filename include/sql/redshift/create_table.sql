-- One raw table per source; columns in the staged Parquet's order (COPY maps Parquet columns by position).
CREATE TABLE IF NOT EXISTS $table (
$columns
)
