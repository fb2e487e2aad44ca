"""The registry of distillation methods by name (see :mod:`graphkd.distill.methods`).

Presets register themselves here when :mod:`graphkd.distill.presets` is imported; this
module imports none of them, so a preset's import of :data:`METHODS` closes no cycle.
"""

from graphkd.registry import Registry

#: Method factories by name: ``@METHODS.register("name")`` on a function returning a
#: :class:`~graphkd.distill.Distiller`.
METHODS = Registry("method")
