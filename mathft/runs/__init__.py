"""Orchestration of the pipeline's steps: hash-keyed step directories, W&B run lifecycle.

Importing this package registers the config schemas of ``conf/`` with Hydra's ConfigStore
(:mod:`mathft.runs.schema`): the entry configs name them in their defaults lists.
"""

from mathft.runs.schema import register_configs

register_configs()
