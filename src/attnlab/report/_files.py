"""Names of the files ``reproduce`` writes beside the run directories."""

RECORD = "reproduce.json"  # what one reproduce invocation did
FAILURE = "failure.json"  # in a run directory: the one-line error of a crashed run
TRACEBACK = "traceback.txt"  # in a run directory: its traceback
