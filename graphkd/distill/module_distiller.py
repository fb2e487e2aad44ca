"""A user's plain ``nn.Module`` loss, adapted once to the distiller contract."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from torch import Tensor, nn

from graphkd.distill.base import Distiller, GradientStep, GraphPair
from graphkd.distill.stage import Stage
from graphkd.responses import Responses

#: The contract's attributes, read from the wrapped module when it sets them.
ATTRIBUTES = (
    "ce_weight",
    "check_inputs",
    "needs_index",
    "needs_virtual_view",
    "ce_on_virtual_view",
    "combines_gradients",
)
#: The contract's methods, called on the wrapped module when it defines them.
HOOKS = (
    "stages",
    "set_stage",
    "set_epoch",
    "stage_loss",
    "combine_gradients",
    "after_step",
    "build_graphs",
    "reset_parameters",
)


class ModuleDistiller(Distiller):
    """A :class:`Distiller` around a module that does not derive from it.

    The wrapped module's forward is the loss; whatever of the contract it defines (the
    attributes of :data:`ATTRIBUTES`, the methods of :data:`HOOKS`) is read once, here,
    and the contract's defaults stand for the rest. A module that defines
    ``combine_gradients`` and does not say ``combines_gradients`` is taken to compute
    its gradients itself, as the engine assumed before the contract was written.

    Parameters
    ----------
    module : nn.Module
        ``module(teacher, student) -> {"loss": ..., ...}``.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> class Loss(torch.nn.Module):
    ...     ce_weight = 0.3
    ...     def forward(self, teacher, student):
    ...         return {"loss": (teacher.logits - student.logits).abs().mean()}
    >>> method = ModuleDistiller(Loss())
    >>> method.ce_weight, float(method(Responses(torch.zeros(2, 3)), Responses(torch.ones(2, 3)))["loss"])
    (0.3, 1.0)
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        for name in ATTRIBUTES:
            if hasattr(module, name):
                setattr(self, name, getattr(module, name))
        self._hooks: Dict[str, Any] = {
            name: getattr(module, name) for name in HOOKS if callable(getattr(module, name, None))
        }
        if "combine_gradients" in self._hooks and not hasattr(module, "combines_gradients"):
            self.combines_gradients = True

    def forward(self, teacher: Any, student: Responses) -> Dict[str, Tensor]:
        return self.module(teacher, student)

    def _hook_or(self, name: str, default: Callable[..., Any]) -> Callable[..., Any]:
        """The module's hook ``name`` where it defines one, else the contract's ``default``."""
        return self._hooks.get(name, default)

    def stages(self) -> List[Stage]:
        return list(self._hook_or("stages", super().stages)())

    def set_stage(self, name: str) -> None:
        self._hook_or("set_stage", super().set_stage)(name)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        hook = self._hooks.get("set_epoch")
        if hook is not None:
            hook(epoch)

    def stage_loss(self, name: str, teacher: Responses) -> Dict[str, Tensor]:
        return self._hook_or("stage_loss", super().stage_loss)(name, teacher)

    def combine_gradients(self, step: GradientStep) -> None:
        self._hook_or("combine_gradients", super().combine_gradients)(step)

    def after_step(self, teacher: Any, student: Responses) -> None:
        hook = self._hooks.get("after_step")
        if hook:
            hook(teacher, student)

    def build_graphs(self, teacher: Responses, student: Responses) -> GraphPair:
        """The module's ``build_graphs(teacher, student)``, which must return a
        :data:`~graphkd.distill.base.GraphPair`; a module without it compares no graphs
        (``ValueError``)."""
        hook = self._hooks.get("build_graphs")
        if hook is None:
            return super().build_graphs(teacher, student)
        graphs = hook(teacher, student)
        if not (
            isinstance(graphs, tuple)
            and len(graphs) == 2
            and all(isinstance(side, dict) for side in graphs)
            and graphs[0].keys() == graphs[1].keys()
        ):
            raise ValueError(
                f"{type(self.module).__name__}.build_graphs returned {type(graphs).__name__}; "
                "return (teacher_graphs, student_graphs), two dicts with the same keys, "
                "name -> KnowledgeGraph (e.g. ({'graph': g_t}, {'graph': g_s}))"
            )
        return graphs

    def reset_parameters(self) -> None:
        self._hook_or("reset_parameters", super().reset_parameters)()


def as_distiller(method: Any, name: str = "method") -> Distiller:
    """``method`` as a :class:`Distiller`: itself when it is one, a
    :class:`ModuleDistiller` around a plain ``nn.Module``.

    Raises
    ------
    ValueError
        ``method`` is not an ``nn.Module`` (``name`` says whose factory returned it).
    """
    if isinstance(method, Distiller):
        return method
    if isinstance(method, nn.Module):
        return ModuleDistiller(method)
    raise ValueError(
        f"{name!r} returned a {type(method).__name__}, not a distiller; a method factory "
        "returns an nn.Module (best a graphkd.distill.Distiller) whose forward(teacher, "
        "student) returns {'loss': ...}"
    )
