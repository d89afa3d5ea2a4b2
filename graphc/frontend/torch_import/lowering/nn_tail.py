"""torch.nn's tail through graphc's nn functions: conv_tbc, native_channel_shuffle, fractional max
pooling with the samples the exported graph draws (``aten.rand`` before the op) or is given, and pdist.

Each is one call, so the lowering has the front end's checks, values and gradients (torch's window
offsets from the samples, pdist's zero gradients at a zero distance).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir.graph import Node
from graphc.runtime.nn import conv_tbc as conv_tbc_module
from graphc.runtime.nn import fractional_pool, pdist
from graphc.runtime.nn.functional import channel_shuffle

aten = torch.ops.aten
KIND = "convolution/pooling"


@lowers(KIND, aten.conv_tbc.default)
def conv_tbc(ctx: LoweringContext, x: Node, weight: Node, bias: Node, pad: int = 0) -> Node:
    return call(conv_tbc_module.conv_tbc, x, weight, bias, pad)


@lowers(KIND, aten.native_channel_shuffle.default)
def native_channel_shuffle(ctx: LoweringContext, x: Node, groups: int) -> Node:
    return call(channel_shuffle, x, groups)


@lowers(KIND, aten.fractional_max_pool2d.default)
def fractional_max_pool2d(ctx: LoweringContext, x: Node, kernel_size: Sequence[int], output_size: Sequence[int], samples: Node) -> tuple[Node, Node]:
    return call(fractional_pool.fractional_max_pool2d_with_indices, x, kernel_size, output_size, _random_samples=samples)


@lowers(KIND, aten.fractional_max_pool3d.default)
def fractional_max_pool3d(ctx: LoweringContext, x: Node, kernel_size: Sequence[int], output_size: Sequence[int], samples: Node) -> tuple[Node, Node]:
    return call(fractional_pool.fractional_max_pool3d_with_indices, x, kernel_size, output_size, _random_samples=samples)


@lowers("linear algebra", aten._pdist_forward.default)
def pdist_forward(ctx: LoweringContext, x: Node, p: float = 2.0) -> Node:
    return call(pdist.pdist, x, p)
