-- Remove the partition's rows before it is copied again: landing sets arrival_hour to the partition's start.
DELETE FROM $table WHERE "arrival_hour" >= TIMESTAMP $start AND "arrival_hour" < TIMESTAMP $end
