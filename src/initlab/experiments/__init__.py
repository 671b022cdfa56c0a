"""Experiments layer: trainers, the comparison engine, the result store and statistics."""
