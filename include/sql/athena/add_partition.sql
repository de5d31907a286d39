-- Register one staged partition (a no-op when it is already registered).
ALTER TABLE $table ADD IF NOT EXISTS PARTITION ($partition_spec) LOCATION $location
