"""Compiling ``torch.nn.Module``s: torch.export to core ATen, lowered to graphc IR, run as graphc programs.

``exporter`` runs torch.export; ``lowering`` is the ATen -> IR table grouped by kind;
``importer`` lowers an exported graph; ``programs`` builds the inference, training
forward/backward programs; ``module`` is the ``torch.nn.Module`` that ``graphc.compile``
returns; ``check`` compares every node against eager PyTorch. See docs/torch_import.md.
"""

from graphc.frontend.torch_import.module import CompiledModule, compile_torch_module

__all__ = ["CompiledModule", "compile_torch_module"]
