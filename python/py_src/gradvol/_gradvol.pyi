# Types of the native module (python/src/lib.rs). The public API is in the package's Python
# files; these functions take already checked arguments.
from typing import List, Optional, Sequence, Tuple, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "NativeRenderer",
    "__version__",
    "adapter",
    "check_transfer_function",
    "gradient_magnitude",
    "gradient_stats",
    "load",
    "preset_json",
    "preset_names",
    "save",
]
__version__: str

def gradient_magnitude(
    image: npt.NDArray, spacing: Sequence[float], operator_name: str, sigma_mm: Optional[float], device: str
) -> Tuple[npt.NDArray[np.float32], str]: ...
def gradient_stats(
    image: npt.NDArray, spacing: Sequence[float], operator_name: str, sigma_mm: Optional[float], device: str
) -> str: ...
def load(
    path: str,
) -> Tuple[npt.NDArray, Tuple[float, float, float], List[List[float]], str, str, List[str]]: ...
def save(path: str, image: npt.NDArray, affine: List[List[float]], space: str, description: str) -> None: ...
def preset_names() -> List[Tuple[str, str]]: ...
def preset_json(name: str, mean_spacing_mm: float) -> str: ...
def check_transfer_function(text: str) -> str: ...
def adapter() -> str: ...

@final
class NativeRenderer:
    def __new__(cls, image: npt.NDArray, affine: List[List[float]], space: str, scene: str) -> Self: ...
    def render(self, scene: str) -> npt.NDArray[np.uint8]: ...
    @property
    def adapter(self) -> str: ...
    @property
    def note(self) -> Optional[str]: ...
    @property
    def dims(self) -> Tuple[int, int, int]: ...
