"""mathft: fine-tuning language models to solve competition math.

Reproduces and extends Liu et al. (2023), "Improving Large Language Model Fine-tuning
for Solving Math Problems": supervised step-by-step solution fine-tuning (SSFT), a
generative solution evaluator, solution-cluster re-ranking (SCR) and multi-task
sequential fine-tuning, as a Hydra-configured experiment grid on PyTorch Lightning.
"""

from mathft.hardware import register_resolvers

__version__ = "0.1.0"

register_resolvers()
