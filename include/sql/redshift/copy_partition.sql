-- Load every Parquet file of one staged partition (the prefix ends in / so hour=01/ never matches hour=010/).
COPY $table FROM $location IAM_ROLE $iam_role FORMAT AS PARQUET
