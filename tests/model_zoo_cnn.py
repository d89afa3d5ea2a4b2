"""Small CNNs shaped like torchvision's, written once for ``torch.nn`` and ``graphc.nn``.

Each ``make_*(nn)`` builds the model from whichever ``nn`` namespace it is given, so the
same source gives a torch model and a graphc model; ``same_weights`` loads the torch
model's state (seeded) into the graphc one. The models keep torchvision's structure
(which convs have biases, where BN and the activations sit, how skips join) at a few
thousand to a few ten thousand parameters, because whole models combine ops in ways the
op-by-op tests do not: fusion across blocks, buffers reused across skip connections,
remat of BN and activations, the importer's lowering of what torch.export emits.

``dropout`` is a parameter of the models that have Dropout: torch and graphc draw
different masks, so the train-mode comparisons build them with ``dropout=0.0`` (the
modules are still there) and eval-mode comparisons use torchvision's probability.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def _lib(nn: Any) -> Any:
    """``torch`` for ``torch.nn``, ``graphc`` for ``graphc.nn``: for ``cat``."""
    return sys.modules[nn.__name__.split(".")[0]]


def make_resnet(nn: Any) -> Any:
    """ResNet with BasicBlocks: two stages ([2, 1] blocks), the second strided with a 1x1 downsample."""

    class BasicBlock(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Any = None) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x: Any) -> Any:
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
            downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2, downsample=downsample))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, classes)

        def forward(self, x: Any) -> Any:
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer2(self.layer1(x))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def _conv_bn_act(nn: Any, inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1, act: Any = None) -> Any:
    """torchvision's Conv2dNormActivation: a conv without bias, BN, then the activation (if any)."""
    layers = [nn.Conv2d(inp, out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def make_mobilenet_v2(nn: Any, dropout: float = 0.2) -> Any:
    """MobileNetV2: inverted residuals (1x1 expand, depthwise 3x3, linear 1x1 project) with ReLU6."""

    class InvertedResidual(nn.Module):
        def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
            super().__init__()
            hidden = inp * expand_ratio
            self.use_res_connect = stride == 1 and inp == oup
            layers = []
            if expand_ratio != 1:
                layers.append(_conv_bn_act(nn, inp, hidden, 1, act=nn.ReLU6))
            layers += [
                _conv_bn_act(nn, hidden, hidden, 3, stride=stride, groups=hidden, act=nn.ReLU6),
                nn.Conv2d(hidden, oup, 1, bias=False),
                nn.BatchNorm2d(oup),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            if self.use_res_connect:
                return x + self.conv(x)
            return self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            # (expand ratio, channels, repeats, first stride), as torchvision's table, narrowed.
            settings = [(1, 8, 1, 1), (4, 12, 2, 2), (4, 16, 1, 2)]
            features = [_conv_bn_act(nn, 3, 8, 3, stride=2, act=nn.ReLU6)]
            inp = 8
            for t, c, n, s in settings:
                for i in range(n):
                    features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                    inp = c
            features.append(_conv_bn_act(nn, inp, 32, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(32, classes))

        def forward(self, x: Any) -> Any:
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
            return self.classifier(x.flatten(1))

    return MobileNetV2()


def make_efficientnet(nn: Any, dropout: float = 0.2) -> Any:
    """EfficientNet-style MBConv blocks with squeeze-excitation and SiLU; stochastic depth off (identity)."""
    F = nn.functional

    class SqueezeExcitation(nn.Module):
        def __init__(self, channels: int, squeeze: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(channels, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, channels, 1)
            self.activation = nn.SiLU()
            self.scale_activation = nn.Sigmoid()

        def forward(self, x: Any) -> Any:
            scale = F.adaptive_avg_pool2d(x, 1)
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(scale))))
            return scale * x

    class MBConv(nn.Module):
        def __init__(self, inp: int, out: int, expand_ratio: int, kernel: int, stride: int) -> None:
            super().__init__()
            self.use_res_connect = stride == 1 and inp == out
            hidden = inp * expand_ratio
            layers = []
            if hidden != inp:
                layers.append(_conv_bn_act(nn, inp, hidden, 1, act=nn.SiLU))
            layers.append(_conv_bn_act(nn, hidden, hidden, kernel, stride=stride, groups=hidden, act=nn.SiLU))
            layers.append(SqueezeExcitation(hidden, max(1, inp // 4)))
            layers.append(_conv_bn_act(nn, hidden, out, 1))
            self.block = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            result = self.block(x)
            if self.use_res_connect:
                result = result + x  # torchvision's StochasticDepth(p) here is the identity with p = 0
            return result

    class EfficientNet(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            self.features = nn.Sequential(
                _conv_bn_act(nn, 3, 8, 3, stride=2, act=nn.SiLU),
                MBConv(8, 8, 1, 3, 1),
                MBConv(8, 16, 4, 3, 2),
                MBConv(16, 16, 4, 5, 1),
                _conv_bn_act(nn, 16, 32, 1, act=nn.SiLU),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(32, classes))

        def forward(self, x: Any) -> Any:
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return EfficientNet()


def make_densenet(nn: Any) -> Any:
    """DenseNet: a dense block whose layers each see the concatenation of all earlier features, then a transition."""
    F = nn.functional
    lib = _lib(nn)

    class DenseLayer(nn.Module):
        def __init__(self, inp: int, growth: int, bn_size: int) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(inp)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(inp, bn_size * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bn_size * growth)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

        def forward(self, features: list) -> Any:
            concated = lib.cat(features, 1)
            bottleneck = self.conv1(self.relu1(self.norm1(concated)))
            return self.conv2(self.relu2(self.norm2(bottleneck)))

    class DenseBlock(nn.ModuleDict):
        def __init__(self, layers: int, inp: int, growth: int, bn_size: int) -> None:
            super().__init__()
            for i in range(layers):
                self.add_module(f"denselayer{i + 1}", DenseLayer(inp + i * growth, growth, bn_size))

        def forward(self, init_features: Any) -> Any:
            features = [init_features]
            for layer in self.values():
                features.append(layer(features))
            return lib.cat(features, 1)

    class Transition(nn.Sequential):
        def __init__(self, inp: int, out: int) -> None:
            super().__init__()
            self.norm = nn.BatchNorm2d(inp)
            self.relu = nn.ReLU(inplace=True)
            self.conv = nn.Conv2d(inp, out, 1, bias=False)
            self.pool = nn.AvgPool2d(2, stride=2)

    class DenseNet(nn.Module):
        def __init__(self, classes: int = 10, growth: int = 4, bn_size: int = 2) -> None:
            super().__init__()
            self.features = nn.Sequential()
            self.features.add_module("conv0", nn.Conv2d(3, 8, 3, padding=1, bias=False))
            self.features.add_module("norm0", nn.BatchNorm2d(8))
            self.features.add_module("relu0", nn.ReLU(inplace=True))
            self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
            self.features.add_module("denseblock1", DenseBlock(3, 8, growth, bn_size))
            self.features.add_module("transition1", Transition(8 + 3 * growth, 10))
            self.features.add_module("denseblock2", DenseBlock(2, 10, growth, bn_size))
            self.features.add_module("norm5", nn.BatchNorm2d(10 + 2 * growth))
            self.classifier = nn.Linear(10 + 2 * growth, classes)

        def forward(self, x: Any) -> Any:
            out = F.relu(self.features(x), inplace=True)
            out = F.adaptive_avg_pool2d(out, (1, 1))
            return self.classifier(lib.flatten(out, 1))

    return DenseNet()


def make_unet(nn: Any) -> Any:
    """A two-level U-Net: MaxPool down, ConvTranspose2d up on one level and bilinear Upsample on the other, skips concatenated."""
    lib = _lib(nn)

    def double_conv(inp: int, out: int) -> Any:
        return nn.Sequential(
            nn.Conv2d(inp, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
            nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
        )  # fmt: skip

    class UNet(nn.Module):
        def __init__(self, classes: int = 3) -> None:
            super().__init__()
            self.inc = double_conv(3, 8)
            self.down1 = nn.Sequential(nn.MaxPool2d(2), double_conv(8, 16))
            self.down2 = nn.Sequential(nn.MaxPool2d(2), double_conv(16, 24))
            self.up1 = nn.ConvTranspose2d(24, 16, 2, stride=2)
            self.conv1 = double_conv(32, 16)
            self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(16, 8, 1))
            self.conv2 = double_conv(16, 8)
            self.outc = nn.Conv2d(8, classes, 1)

        def forward(self, x: Any) -> Any:
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            y = self.conv1(lib.cat([x2, self.up1(x3)], dim=1))
            y = self.conv2(lib.cat([x1, self.up2(y)], dim=1))
            return self.outc(y)

    return UNet()


def make_vgg(nn: Any, dropout: float = 0.5) -> Any:
    """VGG: conv/ReLU/MaxPool features, AdaptiveAvgPool2d, and the Linear/ReLU/Dropout classifier."""

    class VGG(nn.Module):
        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            layers: list = []
            inp = 3
            for v in (8, "M", 16, "M", 16, 16, "M"):
                if v == "M":
                    layers.append(nn.MaxPool2d(2, stride=2))
                else:
                    layers += [nn.Conv2d(inp, v, 3, padding=1), nn.ReLU(inplace=True)]
                    inp = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
            self.classifier = nn.Sequential(
                nn.Linear(16 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(32, classes),
            )  # fmt: skip

        def forward(self, x: Any) -> Any:
            x = self.avgpool(self.features(x))
            return self.classifier(x.flatten(1))

    return VGG()


# The zoo by name; HAS_DROPOUT names the builders taking ``dropout``, SEGMENTATION those giving per-pixel logits.
ZOO: dict[str, Callable[..., Any]] = {
    "resnet": make_resnet,
    "mobilenet_v2": make_mobilenet_v2,
    "efficientnet": make_efficientnet,
    "densenet": make_densenet,
    "unet": make_unet,
    "vgg": make_vgg,
}

HAS_DROPOUT = {"mobilenet_v2", "efficientnet", "vgg"}
SEGMENTATION = {"unet"}


def build(name: str, nn: Any, dropout: float | None = None) -> Any:
    """The model ``name`` from ``nn``; ``dropout`` overrides torchvision's probability where the model has Dropout."""
    make = ZOO[name]
    if dropout is not None and name in HAS_DROPOUT:
        return make(nn, dropout=dropout)
    return make(nn)


def same_weights(name: str, dropout: float | None = None) -> tuple[Any, Any]:
    """A float64 torch model (seeded) and a float64 graphc model holding the same parameters and buffers."""
    import torch

    import graphc

    torch.manual_seed(0)
    torch_model = build(name, torch.nn, dropout).double()
    graphc_model = build(name, graphc.nn, dropout).to(graphc.float64)
    graphc_model.load_state_dict(torch_model.state_dict())
    return torch_model, graphc_model
