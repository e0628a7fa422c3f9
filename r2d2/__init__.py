"""R2D2: find tables in a data lake that other tables contain, and remove them safely."""

from r2d2.errors import R2D2Error

__version__ = "0.1.0"
__all__ = ["R2D2Error", "__version__"]
