"""brainlz: spiking networks in Brian2 with learnable intrinsic parameters and LZ76 complexity readouts.

Importing ``brainlz`` is cheap: Brian2 is imported only by the modules that need it (``brainlz.network``,
``brainlz.backends``, ``brainlz.models``, ``brainlz.learning`` and, for its units, ``brainlz.data``);
``brainlz.lzc``, ``brainlz.readout`` and ``brainlz.metrics`` do not import it.
"""

from .errors import BrainlzError, DataError, ModelError, ParameterError, ProtocolError

__version__ = "0.1.0"

__all__ = ["BrainlzError", "DataError", "ModelError", "ParameterError", "ProtocolError", "__version__"]
