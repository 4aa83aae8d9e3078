"""Orchestration of the pipeline's steps: hash-keyed step directories, W&B run lifecycle."""
