"""brainlz: spiking networks in Brian2 with learnable intrinsic parameters and LZ76 complexity readouts.

Importing ``brainlz`` is cheap: Brian2 is imported only by the modules that simulate
(``brainlz.network``, ``brainlz.backends``, ``brainlz.models``).
"""

from .errors import BrainlzError, DataError, ModelError, ParameterError, ProtocolError

__version__ = "0.1.0"

__all__ = ["BrainlzError", "DataError", "ModelError", "ParameterError", "ProtocolError", "__version__"]
