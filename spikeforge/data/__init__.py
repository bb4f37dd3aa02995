"""Event data: one event representation, binning to dense tensors, and dataset loaders.

- Events are numpy structured arrays of :data:`EVENT_DTYPE` (fields ``x``, ``y``, ``t`` in
  microseconds, ``p`` with 1 = ON), as the file formats and tonic use.
- :func:`to_frames` (``[T, P, H, W]``) and :func:`to_channels` (``[T, N]``) count events in
  time bins; :func:`pad_collate` batches variable-length samples to ``[T, B, ...]``.
- Loaders read local files in their published formats: :class:`NMNIST` (``.bin``),
  :class:`SHD` and :class:`SSC` (HDF5), :class:`DVSGesture` (tonic's ``.npy``). A missing
  dataset raises ``FileNotFoundError`` saying which files to put where.
- :class:`NDigits` needs no download: scikit-learn's 8x8 digits turned into events by the
  event-camera emulator, generated once and cached.

    >>> from spikeforge import data
    >>> ev = data.make_events(x=[1, 2], y=[0, 0], t=[0, 1500], p=[1, 0])
    >>> data.to_frames(ev, (3, 1, 2), bin_us=1000).shape
    torch.Size([2, 2, 1, 3])
"""

from .binning import pad_collate, to_channels, to_frames
from .dvs_gesture import (
    DVS_GESTURE_CLASSES,
    DVS_GESTURE_SENSOR_SIZE,
    DVSGesture,
    read_dvs_gesture,
    write_dvs_gesture,
)
from .events import EVENT_DTYPE, EventFileError, as_events, check_sensor_size, make_events
from .ndigits import NDigits, NDigitsConfig, default_cache_dir
from .nmnist import NMNIST, NMNIST_SENSOR_SIZE, read_nmnist, write_nmnist
from .shd import SHD, SHD_N_CHANNELS, SSC, HeidelbergData, read_shd, write_shd

__all__ = [
    "EVENT_DTYPE",
    "EventFileError",
    "make_events",
    "as_events",
    "check_sensor_size",
    "to_frames",
    "to_channels",
    "pad_collate",
    "NMNIST",
    "NMNIST_SENSOR_SIZE",
    "read_nmnist",
    "write_nmnist",
    "SHD",
    "SSC",
    "SHD_N_CHANNELS",
    "HeidelbergData",
    "read_shd",
    "write_shd",
    "DVSGesture",
    "DVS_GESTURE_SENSOR_SIZE",
    "DVS_GESTURE_CLASSES",
    "read_dvs_gesture",
    "write_dvs_gesture",
    "NDigits",
    "NDigitsConfig",
    "default_cache_dir",
]
