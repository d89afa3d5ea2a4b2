"""L-BFGS, as ``torch.optim.LBFGS``: one step runs up to ``max_iter`` quasi-Newton iterations over
all parameters flattened into one vector, with a fixed step or a strong-Wolfe line search.

Unlike graphc's other optimizers, it runs eagerly: every iteration decides from values (is the
gradient small enough, did the loss change, which point of the line search's bracket is lower),
so the number of closure calls and the path taken depend on the data, and cannot be one graph.
It therefore refuses to run inside ``graphc.compile`` (the closure it calls may be compiled).

The vectors (gradient, direction, history) are graphc tensors; the scalars torch keeps as 0-d
tensors (``ys``, ``ro``, ``al``, ``H_diag``, the directional derivatives) are NumPy scalars of the
parameters' dtype, and those torch keeps as Python floats (the loss) are Python floats, so the
arithmetic rounds as torch's does in float32 too. A scalar that multiplies a vector enters the
graph as a 0-d tensor, not a constant, so the programs keep one structure and compile once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import functional as F
from graphc.frontend import lazy, tracing
from graphc.frontend.constructors import tensor as make_tensor
from graphc.frontend.constructors import zeros
from graphc.ir.grad_mode import grad_mode
from graphc.ir.registry import user_location
from graphc.runtime.optim.optimizer import Optimizer, ParamsT, check_lr
from graphc.runtime.tensor import Tensor

Number = Any  # a Python number or a NumPy scalar
Objective = Callable[[list[Tensor], Number, Tensor], tuple[float, Tensor]]


def _read(value: Tensor, *also: Tensor) -> Number:
    """A 0-d tensor's value as a NumPy scalar of its dtype (a 0-d tensor in torch's arithmetic),
    computed in one program with ``also`` (vectors used next, so their pending graphs do not grow)."""
    lazy.realize([tracing.read(value), *(tracing.read(t) for t in also)])
    return value.numpy().reshape(())[()]


def _leaf(value: Number) -> Tensor:
    """A scalar as a realized 0-d tensor of its own dtype (a Python float as float64): a program input."""
    return make_tensor(np.asarray(value))


def _scaled(vector: Tensor, factor: Number) -> Tensor:
    """``factor * vector`` in the vector's dtype, as torch's ``alpha=`` and ``mul`` by a scalar."""
    return vector if isinstance(factor, int) and factor == 1 else vector * _leaf(factor)


def _cubic_interpolate(x1: Number, f1: Number, g1: Number, x2: Number, f2: Number, g2: Number, bounds: tuple[Number, Number] | None = None) -> Number:
    """The minimizer of the cubic through two points with their values and slopes, within ``bounds``
    (torch's port of minFunc's polyinterp; the midpoint when the cubic has no minimum)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(
    obj_func: Objective,
    x: list[Tensor],
    t: Number,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: Number,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, Number, int]:
    """torch's strong-Wolfe line search (minFunc's lswolfe): bracket a step that satisfies the
    Wolfe conditions, then zoom in by cubic interpolation. Returns (loss, gradient, step, evaluations)."""
    d_norm = _read(d.abs().max())
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = _read(g_new.dot(d))

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _read(g_new.dot(d))
        ls_iter += 1

    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # Zoom: shrink the bracket until a point satisfies the conditions (or the bracket is too small).
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # Too close to an end of the bracket (twice, or outside it): move 10% of its width inside.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _read(g_new.dot(d))
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos], bracket_g[high_pos], bracket_gtd[high_pos] = t, f_new, g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos], bracket_gtd[low_pos] = t, f_new, g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """torch.optim.LBFGS: ``step(closure)`` runs up to ``max_iter`` iterations of L-BFGS, calling
    ``closure`` (which zeroes the gradients, computes the loss, calls ``backward()`` and returns
    the loss) as often as the iterations and the line search need, at most ``max_eval`` times.

    Eager only (see the module docstring): it reads loss and gradient values to decide, so
    ``graphc.compile`` of a function that calls ``step`` raises; compile the closure instead.
    One parameter group, as torch. The state (direction, step, history, ``func_evals``, ``n_iter``)
    is kept under the first parameter, with torch's keys, so state dicts move both ways.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ------------------------------------------------------------------ the flat vector of all parameters

    def _gather_flat_grad(self) -> Tensor:
        views = [zeros((p.numel(),), dtype=p.dtype, device=p.device) if p.grad is None else p.grad.reshape(-1) for p in self._params]
        return F.cat(views, 0)

    def _add_grad(self, step_size: Number, update: Tensor) -> None:
        offset = 0
        for p in self._params:
            numel = p.numel()
            p.add_(_scaled(update[offset : offset + numel].view_as(p), step_size))
            offset += numel

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[Any, Tensor]:
        """The closure's loss (with gradients on) and the flat gradient, computed in one program with the parameters."""
        with grad_mode(True):
            loss = closure()
        flat_grad = self._gather_flat_grad()
        lazy.realize([tracing.read(t) for t in (*self._params, flat_grad, *([loss] if isinstance(loss, Tensor) else []))])
        return loss, flat_grad

    def _directional_evaluate(self, closure: Callable[[], Any], x: list[Tensor], t: Number, d: Tensor) -> tuple[float, Tensor]:
        self._add_grad(t, d)
        loss, flat_grad = self._evaluate(closure)
        for p, saved in zip(self._params, x):
            p.copy_(saved)
        return float(loss), flat_grad

    # ------------------------------------------------------------------ the step

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        location = user_location()
        where = f"\n  at {location}" if location else ""
        if tracing.active() is not None:
            raise GraphcError(
                "LBFGS cannot run inside graphc.compile: each iteration reads the loss and gradient values to decide "
                "(stopping tests, the line search), so its path depends on the data; call opt.step(closure) eagerly "
                f"(the closure itself may be a compiled function){where}"
            )
        if closure is None:
            raise GraphcError(f"LBFGS.step needs a closure that zeroes the gradients, computes the loss, calls backward() and returns the loss{where}")
        with grad_mode(False):
            return self._iterate(closure)

    def _iterate(self, closure: Callable[[], Any]) -> Any:
        if len(self.param_groups) != 1:
            raise ValueError(f"LBFGS doesn't support per-parameter options (parameter groups): it has {len(self.param_groups)} groups")
        group = self.param_groups[0]
        lr = group["lr"]
        lr = _read(lr.reshape(())) if isinstance(lr, Tensor) else lr
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # LBFGS's state is global; torch keeps it under the first parameter (so load_state_dict casts it).
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, flat_grad = self._evaluate(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        if _read(flat_grad.abs().max()) <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = _number(state.get("t"))
        old_dirs, old_stps = state.get("old_dirs"), state.get("old_stps")
        ro = [_number(r) for r in state["ro"]] if "ro" in state else None
        H_diag = _number(state.get("H_diag"))
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # The descent direction: the gradient at first, then the two-loop recursion over the history.
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = _scaled(d, t)
                ys = _read(y.dot(s), y, s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _read(y.dot(y))
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = [_number(a) for a in state["al"]]
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = _read(old_stps[i].dot(q), q) * ro[i]
                    q = q + _scaled(old_dirs[i], -al[i])
                r = _scaled(q, H_diag)
                for i in range(num_old):
                    be_i = _read(old_dirs[i].dot(r), r) * ro[i]
                    r = r + _scaled(old_stps[i], al[i] - be_i)
                d = r
                d.realize()
                state["al"] = al

            prev_flat_grad = flat_grad
            prev_loss = loss

            # The step length: scaled by the gradient's size on the very first iteration, else lr.
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / _read(flat_grad.abs().sum())) * lr
            else:
                t = lr
            gtd = _read(flat_grad.dot(d))
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = [p.clone() for p in self._params]
                lazy.realize([tracing.read(p) for p in x_init])

                def obj_func(x: list[Tensor], t: Number, d: Tensor) -> tuple[float, Tensor]:
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _read(flat_grad.abs().max(), *self._params) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # Not re-evaluated after the last iteration (in a stochastic setting it would be wasted).
                    loss_tensor, flat_grad = self._evaluate(closure)
                    loss = float(loss_tensor)
                    opt_cond = _read(flat_grad.abs().max()) <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _read(_scaled(d, t).abs().max(), *self._params) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        lazy.realize([tracing.read(p) for p in self._params])
        state["d"] = d
        state["t"] = _stored(t)
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = None if ro is None else [_stored(r) for r in ro]
        state["H_diag"] = _stored(H_diag)
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        if "al" in state:
            state["al"] = [_stored(a) for a in state["al"]]
        return orig_loss

    # ------------------------------------------------------------------ state dicts

    @staticmethod
    def _load_value(p: Tensor, name: str, value: Any, old: Any) -> Any:
        """torch's LBFGS state holds lists of tensors (the history, ``ro``, ``al``): each element is loaded as a tensor is."""
        if isinstance(value, (list, tuple)):
            return [Optimizer._load_value(p, name, v, None) for v in value]
        return Optimizer._load_value(p, name, value, old)


def _number(value: Any) -> Any:
    """A stored 0-d tensor as the NumPy scalar the step computes with; numbers and None as they are."""
    return value.numpy().reshape(())[()] if isinstance(value, Tensor) else value


def _stored(value: Any) -> Any:
    """A NumPy scalar as the 0-d tensor torch keeps in the state; Python numbers and None as they are."""
    return make_tensor(np.asarray(value)) if isinstance(value, np.generic) else value

