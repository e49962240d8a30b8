"""Stage 3 of kbuild: human verification of probes in Label Studio.

``config`` (labeling interface), ``tasks`` (records -> tasks with stable ids), ``client`` (the server's API),
``push`` / ``pull`` (import tasks; export annotations and apply them), ``agreement`` (Cohen's and Fleiss'
kappa, adjudication), ``server`` (start a local Label Studio), ``cli`` (``kbuild annotate``).
Depends only on ``kedit.records`` (and errors/settings).
"""
