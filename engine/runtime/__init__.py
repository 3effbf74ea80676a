"""What every part of the engine runs on: the compute device, errors for people, cancelling, the style-target cache
and the test hooks."""
