"""A local Flamenco farm for trying the product's job type (farm/flamenco/nst_stylize.js) without a Manager: the
harness (`python -m bench.farm.harness`), the stand-in Manager globals and the job compiler (Node)."""
