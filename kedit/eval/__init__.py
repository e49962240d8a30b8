"""keval: batched scoring, metrics, run modes (single/batch/sequential), reports and plots."""
