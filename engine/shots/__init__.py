"""Shots: flicker-free sequences held to their earlier frames by the render's motion, and farm chunks."""
