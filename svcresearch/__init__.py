"""svcresearch: clean coded service-interaction logs and test how behaviours predict satisfaction."""
__version__ = "0.1.0"
