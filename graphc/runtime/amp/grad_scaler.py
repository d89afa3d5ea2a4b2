"""``graphc.amp.GradScaler``: torch's dynamic loss scaling, with its state evolution.

The scale (0-d float32) and the growth tracker (0-d int32) are tensors updated in place by graph
ops, as torch's ``_amp_update_scale_`` does, so the update is branch-free. Skipping the optimizer
step on inf/nan gradients is data-dependent: eager code reads ``found_inf`` and skips the step, as
torch; under ``graphc.compile`` the step is recorded and every parameter and every optimizer state
tensor it changed is put back through ``where(found_inf, old, new)``, so one program serves both
outcomes (docs/decisions.md, "GradScaler").
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from graphc.frontend import functional as F
from graphc.frontend import tracing
from graphc.frontend.constructors import full
from graphc.frontend.pointwise import isfinite
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.runtime import views
from graphc.runtime.tensor import Tensor


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf": None}


class GradScaler:
    """Scale the loss so that low-precision gradients do not underflow; unscale them before the step,
    skip the step when one is inf or nan, and adapt the scale (torch.amp.GradScaler's contract)."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = enabled
        if enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._init_scale = init_scale
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._scale: Tensor | None = None
        self._growth_tracker: Tensor | None = None
        self._per_optimizer_states: dict[int, dict[str, Any]] = {}
        self._version = 0

    # ------------------------------------------------------------------ graphc.compile

    @property
    def _trace_version(self) -> int:
        return self._version

    def _trace_state(self) -> tuple:
        """The Python values a compiled step's graph holds as constants: a change traces it again."""
        return (
            ("enabled", self._enabled),
            ("growth_factor", self._growth_factor),
            ("backoff_factor", self._backoff_factor),
            ("growth_interval", self._growth_interval),
            ("scale is None", self._scale is None),
        )

    # ------------------------------------------------------------------ the iteration

    def _lazy_init(self, device: str) -> None:
        self._scale = full((), self._init_scale, dtype=dtypes.float32, device=device)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=dtypes.int32, device=device)
        self._version += 1

    def _checked(self, funcname: str) -> tuple[Tensor, Tensor]:
        if self._scale is None or self._growth_tracker is None:
            raise AssertionError(
                f"Attempted {funcname} but _scale is None.  This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
            )
        return self._scale, self._growth_tracker

    def _optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer_states.setdefault(id(optimizer), _fresh_state())

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or nested lists/tuples/iterables of them) times the current scale."""
        if not self._enabled:
            return outputs
        tracing.use(self)
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init(outputs.device)
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(v) for v in outputs)
        if hasattr(outputs, "__iter__"):
            return map(self.scale, outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the optimizer's gradients by the scale (in place), noting whether any is inf or nan."""
        if not self._enabled:
            return
        scale, _ = self._checked("unscale_")
        state = self._optimizer_state(optimizer)
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # torch: the reciprocal in double, rounded to float32.
        inv_scale = F.cast(F.reciprocal(F.cast(scale, dtypes.float64)), dtypes.float32)
        found_inf = full((), 0.0, dtype=dtypes.float32, device=scale.device)
        with grad_mode(False):
            for group in optimizer.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if grad.dtype == dtypes.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    found_inf = F.maximum(found_inf, F.cast(F.logical_not(F.all(isfinite(grad))), dtypes.float32))
                    grad.mul_(inv_scale)
        state["found_inf"] = found_inf
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``unscale_`` (unless done this iteration), then ``optimizer.step()`` unless a gradient was inf or nan."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._checked("step")
        state = self._optimizer_state(optimizer)
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        found_inf = state["found_inf"]
        if tracing.active() is None:
            result = None if found_inf.item() else optimizer.step(*args, **kwargs)
        else:
            result = _step_unless(optimizer, found_inf, args, kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """torch's ``_amp_update_scale_``: back off after an inf/nan, grow after ``growth_interval`` clean steps."""
        if not self._enabled:
            return
        scale, tracker = self._checked("update")
        with grad_mode(False):
            if new_scale is not None:
                if isinstance(new_scale, Tensor) and (new_scale.numel() != 1 or new_scale.requires_grad):
                    raise AssertionError("new_scale should be a float or a 1-element graphc.Tensor with requires_grad=False.")
                scale.copy_(new_scale.reshape(()) if isinstance(new_scale, Tensor) else float(new_scale))
            else:
                found = [s["found_inf"] for s in self._per_optimizer_states.values() if s["found_inf"] is not None]
                if not found:
                    raise AssertionError("No inf checks were recorded prior to update.")
                found_inf = found[0]
                for other in found[1:]:
                    found_inf = found_inf + other
                skipped = F.gt(found_inf, 0)
                successful = tracker + 1
                grow = F.eq(successful, self._growth_interval)
                grown = _times(scale, self._growth_factor)
                scale_now = F.where(skipped, _times(scale, self._backoff_factor), F.where(F.logical_and(grow, isfinite(grown)), grown, scale))
                tracker_now = F.where(F.logical_or(skipped, grow), 0, successful)
                scale.copy_(scale_now)
                tracker.copy_(tracker_now)
        self._per_optimizer_states = {}

    # ------------------------------------------------------------------ state

    def get_scale(self) -> float:
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor
        self._version += 1

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor
        self._version += 1

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval
        self._version += 1

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """torch's five entries (Python numbers), or ``{}`` when disabled."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._get_growth_tracker(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None and self._growth_tracker is not None:
            self._scale.fill_(self._init_scale)
            self._growth_tracker.fill_(self._init_growth_tracker)
        self._version += 1


def _times(scale: Tensor, factor: float) -> Tensor:
    """``scale * factor`` in double, rounded to float32: torch's kernel multiplies the float by a double."""
    return F.cast(F.cast(scale, dtypes.float64) * factor, dtypes.float32)


def _step_unless(optimizer: Any, found_inf: Tensor, args: tuple, kwargs: dict) -> Any:
    """The step recorded, then undone where ``found_inf``: branch-free, so a compiled step replays it
    for both outcomes. Every parameter and optimizer state tensor it may change is kept first."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    # each parameter's value, and each state tensor (the object and its value) before the step: values of
    # their own, not detach()'s views, which would follow the step
    with views.plain():
        kept = [(p, F.detach(p), {k: (v, F.detach(v)) for k, v in optimizer.state.get(p, {}).items() if isinstance(v, Tensor)}) for p in params]
    result = optimizer.step(*args, **kwargs)
    skipped = F.gt(found_inf, 0)
    with grad_mode(False):
        for p, old_value, old_state in kept:
            p.copy_(F.where(skipped, old_value, p))
            state = optimizer.state.get(p, {})
            for key, (tensor, old) in old_state.items():
                new = state.get(key)
                if not isinstance(new, Tensor):
                    continue
                if new is tensor:  # updated in place
                    new.copy_(F.where(skipped, old, new))
                else:  # replaced by a new tensor
                    state[key] = F.where(skipped, old, new)
    return result
