"""The ``kbuild`` stages' command-line layers: each module has ``add_arguments(parser)`` and
``run(args) -> int`` (parse, call the stage function, print); the stages themselves never see argparse."""
