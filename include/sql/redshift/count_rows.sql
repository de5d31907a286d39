-- The table's row count once the partitions are loaded (the last statement of the last transaction).
SELECT COUNT(*) FROM $table
