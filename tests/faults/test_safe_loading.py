"""Loading is safe (issue 6): no pickle-based loading or eval of untrusted text anywhere in
mathft/, and exported models are safetensors only."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "mathft"

# Calls that execute or unpickle their input. sympy's sympify/parse_expr eval strings.
BANNED = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__"}
BANNED_ATTR = {("pickle", "load"), ("pickle", "loads"), ("dill", "load"), ("joblib", "load"),
               ("marshal", "loads"), ("yaml", "load"), ("yaml", "unsafe_load"),
               ("numpy", "load"), ("np", "load"), ("cloudpickle", "load")}
# (relative path, call) -> reason, for a reviewed legitimate use. Empty today.
ALLOWED: dict[tuple[str, str], str] = {}


def _name(func: ast.expr) -> tuple[str | None, str | None]:
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        base = func.value
        owner = base.id if isinstance(base, ast.Name) else (
            base.attr if isinstance(base, ast.Attribute) else None)
        return owner, func.attr
    return None, None


def _weights_only_true(call: ast.Call) -> bool:
    return any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
               and k.value.value is True for k in call.keywords)


def scan(root: Path = PKG) -> list[str]:
    """Every unsafe call under ``root`` as ``file:line: call``."""
    bad: list[str] = []
    for f in sorted(root.rglob("*.py")):
        rel = str(f.relative_to(root.parent))
        tree = ast.parse(f.read_text(), filename=str(f))
        # `from torch import load as tl` -> a bare `tl(...)` is `torch.load(...)`
        imported = {a.asname or a.name: (n.module.split(".")[-1], a.name)
                    for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                    for a in n.names}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            owner, name = _name(node.func)
            if owner is None and name in imported and name not in BANNED:
                owner, name = imported[name]
            what = f"{owner}.{name}" if owner else str(name)
            if (rel, what) in ALLOWED:
                continue
            unsafe = (
                (owner is None and name in BANNED)
                or (owner is not None and name in {"sympify", "parse_expr"})
                or (owner, name) in BANNED_ATTR
                or (name == "load" and owner == "torch" and not _weights_only_true(node))
                or (name == "Unpickler")
            )
            if unsafe:
                bad.append(f"{rel}:{node.lineno}: {what}(...)")
    return bad


def test_no_unsafe_loading_or_eval_in_package():
    assert scan() == []


def test_scanner_catches_unsafe_calls(tmp_path):
    """The scan is not vacuous: each banned form in a fake package is reported."""
    pkg = tmp_path / "mathft"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "import pickle, torch, sympy\n"
        "torch.load('a')\n"
        "torch.load('a', weights_only=False)\n"
        "torch.load('a', weights_only=True)\n"
        "pickle.load(open('a', 'rb'))\n"
        "eval('1+1')\n"
        "sympy.sympify('x')\n"
        "model.eval()\n"
        "from pickle import loads as pl\n"
        "pl(b'')\n"
    )
    assert scan(pkg) == [
        "mathft/bad.py:2: torch.load(...)",
        "mathft/bad.py:3: torch.load(...)",
        "mathft/bad.py:5: pickle.load(...)",
        "mathft/bad.py:6: eval(...)",
        "mathft/bad.py:7: sympy.sympify(...)",
        "mathft/bad.py:10: pickle.loads(...)",
    ]


def test_exported_tiny_model_is_safetensors_only(tmp_path):
    from transformers import AutoModelForCausalLM

    from mathft.models.export import export_generator
    from mathft.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("tiny")
    out = export_generator(model, tok, tmp_path / "model")
    names = sorted(p.name for p in Path(out).rglob("*") if p.is_file())
    assert "model.safetensors" in names, names
    pickled = [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert pickled == []
    back = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True)
    sd = model.state_dict()
    for k, v in back.state_dict().items():
        if k in sd:
            assert v.shape == sd[k].shape and bool((v == sd[k]).all()), k
