"""The optimizer core of quality mode: the VGG-19 loss network, the loss terms and the objective, L-BFGS, the
optimize loop over scales and tiles, the job's options and results, regions, and the out-of-memory chain."""
