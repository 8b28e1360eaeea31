"""sopflow benchmarks: `make bench` (`python -m bench`) runs them and writes docs/benchmarks.md.

Each benchmark is a module with `NAME`, `TITLE` and `run(..., machine=...) -> Result`;
`RUNNERS` in `bench.runner` says how to call it in full and quick mode. Its Result
carries a Markdown section, which `bench.report` merges into the document.
"""
