"""kedit: build portability benchmarks for knowledge editing and evaluate editors against them."""

__version__ = "0.1.0"
