"""Reserved columns the pipeline adds to every dataset (leading underscore: never a raw name)."""

ROW_ID = "_row_id"
FAVOURABLE = "_favourable"
