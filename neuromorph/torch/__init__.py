"""neuromorph networks as ``torch.nn`` modules: :class:`Network` (``docs/torch_module.md``).

This subpackage is ``neuromorph.torch``; inside the package every module imports the real torch with an absolute
``import torch`` (Python 3 has no implicit relative imports), so the name does not shadow it.
"""

from neuromorph.torch.module import Network, Output

__all__ = ["Network", "Output"]
