"""Open Job Description (Deadline Cloud) job bundles for the stylize pipeline; see bundle.py."""
