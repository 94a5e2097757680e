"""descentlab: understand, choose and tune the optimizers that train neural networks."""

__version__ = "0.1.0"
