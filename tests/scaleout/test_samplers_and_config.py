"""Rank sharding of the batch samplers, and the trainer configs that are refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mathft.data.collate import LengthGroupedBatchSampler, rank_slice
from mathft.runs.distributed import check_trainer

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("n,bs,world", [(8, 3, 2), (17, 2, 2), (5, 4, 2), (23, 2, 3), (3, 1, 2)])
@pytest.mark.parametrize("epoch", [0, 1])
def test_length_grouped_shards_are_the_global_batches(n, bs, world, epoch) -> None:
    lengths = [(7 * i) % 13 + 1 for i in range(n)]
    one = LengthGroupedBatchSampler(lengths, bs * world, seed=3, mega_batch_mult=2)
    ranks = [LengthGroupedBatchSampler(lengths, bs, seed=3, mega_batch_mult=2,
                                       num_replicas=world, rank=r) for r in range(world)]
    for s in (one, *ranks):
        s.set_epoch(epoch)
    per_rank = [list(s) for s in ranks]
    assert all(len(p) == len(one) == len(ranks[0]) for p in per_rank)
    for step, gb in enumerate(one):  # union of the ranks' slices, in rank order, is gb
        joined = [i for p in per_rank for i in p[step]]
        if len(gb) >= world:
            assert joined == gb
        else:  # fewer examples than ranks: empty ranks repeat the last one
            assert sorted(set(joined)) == sorted(gb)
    seen = [i for p in per_rank for b in p for i in b]
    if n % (bs * world) == 0 or n % (bs * world) >= world:
        assert sorted(seen) == list(range(n))  # every example exactly once per epoch


def test_rank_slice() -> None:
    assert [rank_slice(list(range(5)), r, 2) for r in (0, 1)] == [[0, 1, 2], [3, 4]]
    assert [rank_slice([7], r, 2) for r in (0, 1)] == [[7], [7]]
    assert rank_slice([1, 2], 0, 1) == [1, 2]


def test_evaluator_sampler_shards_one_global_order() -> None:
    """The evaluator's shuffled (not length-grouped) batches: 2 ranks with batch 2 see, batch
    by batch, exactly the batches of one process with batch 4."""
    one = list(LengthGroupedBatchSampler([0] * 21, 4, group_by_length=False, seed=5))
    ranks = [list(LengthGroupedBatchSampler([0] * 21, 2, group_by_length=False, seed=5,
                                            num_replicas=2, rank=r)) for r in range(2)]
    assert [a + b for a, b in zip(*ranks)][:-1] == one[:-1]
    assert ranks[0][-1] == ranks[1][-1] == one[-1]  # 1 example left for 2 ranks: repeated


def _trainer(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("pipeline", overrides=list(overrides)).trainer


def test_trainer_configs_checked_at_start() -> None:
    check_trainer(_trainer("trainer=ddp_cpu"))
    check_trainer(_trainer("trainer=ddp"))
    check_trainer(_trainer("trainer=cpu"))
    with pytest.raises(ValueError, match="requires a GPU accelerator.*ddp_cpu"):
        check_trainer(_trainer("trainer=fsdp", "trainer.accelerator=cpu"))
    with pytest.raises(ValueError, match="re-runs the whole command"):
        check_trainer(_trainer("trainer=fsdp"))
    with pytest.raises(ValueError, match="popen"):
        check_trainer({"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
    check_trainer({"accelerator": "cpu", "devices": 2, "strategy": "ddp_spawn"})
    check_trainer({"accelerator": "cpu", "devices": 1, "strategy": "ddp"})  # no re-launch
