"""descentlab: understand, choose and tune the optimizers that train neural networks."""

__version__ = "0.1.0"

from descentlab.minimize import Trajectory, minimize  # noqa: E402

__all__ = ["Trajectory", "minimize"]
