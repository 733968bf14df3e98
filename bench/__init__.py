"""Speed and memory benchmarks: run as modules (``python -m bench.<name>``), never as tests."""
