"""Method presets, one module each; importing this package registers every one of them.

Each module registers its factory with :data:`graphkd.distill.method_registry.METHODS`
when it is imported (as timm's model files do); the modules of this folder are imported
here in name order, so a new preset is one new file.
"""

import importlib
import pkgutil

__all__ = sorted(module.name for module in pkgutil.iter_modules(__path__))
for _name in __all__:
    importlib.import_module(f"{__name__}.{_name}")
