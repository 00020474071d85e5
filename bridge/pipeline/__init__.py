"""One vendor's pipeline as small parts: intake, key lanes, settlement, flow control, commits.

`runner.Pipeline` joins them; its docstring walks one record through every part.
"""

from bridge.pipeline.runner import Pipeline

__all__ = ["Pipeline"]
