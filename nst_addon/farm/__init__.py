"""Submit to Farm: the farm job built from the scene (job.py) and the Flamenco Manager's HTTP API (flamenco.py).

Two farms: an Open Job Description bundle folder for AWS Deadline Cloud or any OpenJD runner (written by
farm/openjd/bundle.py beside nst_addon/), and a Flamenco Manager, which gets the job JSON of its "nst-stylize" job
type (farm/flamenco/nst_stylize.js) by POST {manager}/api/v3/jobs. Nothing goes over the network unless the user
clicks Submit with a Flamenco target and Blender allows online access. The settings are
property_groups/farm.py, the operators operators/farm_submit.py, the panel ui/farm.py. Never imports torch.
"""
