"""Textures: flat and UV-island textures, and textures painted through rendered views of their object."""
