"""The levels every monitoring statistic is judged into, and how they rank."""

OK, WARN, ERROR, NOT_MEASURED = "OK", "WARN", "ERROR", "NOT_MEASURED"
SEVERITY = {NOT_MEASURED: 0, OK: 0, WARN: 1, ERROR: 2}
