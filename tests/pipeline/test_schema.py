"""The config schemas (mathft/runs/schema.py) agree with the classes that consume each node,
so a key the schema accepts is one the code reads, and the reverse."""

from __future__ import annotations

from dataclasses import fields

from mathft.data.prompts import PromptBuilder
from mathft.models.loading import MODEL_DEFAULTS
from mathft.models.multitask import StageSpec
from mathft.models.objectives import Objective
from mathft.runs import schema
from mathft.sampling.engine import SamplingParams


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def test_schemas_match_the_classes_they_configure() -> None:
    assert _names(schema.SamplingConf) - {"engine", "precision", "shard", "workers"} == \
        _names(SamplingParams)
    assert _names(schema.ObjectiveConf) == _names(Objective)
    assert _names(schema.FewShotPromptConf) - {"_target_"} == _names(PromptBuilder) - {
        "pool_loader"}
    assert _names(schema.ModelConf) == set(MODEL_DEFAULTS) | {"name"}
    assert {f.name for f in fields(StageSpec)} >= {"name", "kind", "steps", "joint_alpha"}


def test_every_schema_default_is_missing() -> None:
    """Values live in yaml: a schema merged late (sample_schema after pipeline) must never
    reset one, nor add a leaf to a step key."""
    from dataclasses import MISSING as NO_DEFAULT

    from omegaconf import MISSING

    todo = [*schema.ROOTS.values(), *schema.GROUP_SCHEMAS.values()]
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for f in fields(cls):
            if f.default_factory is not NO_DEFAULT:  # a nested schema: check its fields
                todo.append(type(f.default_factory()))
                continue
            assert f.default == MISSING, f"{cls.__name__}.{f.name} = {f.default!r}"
