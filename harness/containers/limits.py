"""What each container run is granted: the one definition of run limits, validated when made.

The same :class:`Limits` is the ``limits:`` section of a round file, the options of ``selma3d
predict`` and ``selma3d check`` (their defaults are this model's) and what the runner applies, so
a value that cannot run (``memory: 2m``, ``gpus: banana``) is refused when it is read, naming the
field and the value, never hours later when a container is created.

Sizes are written as Docker writes them (``512m``, ``8g``, ``8gb``, ``8GiB``, ``1.5g``, or a whole
number of bytes): the units are binary (``k`` = 1024), with an optional ``b``/``ib`` suffix.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = ["MAX_JOBS", "MAX_SECONDS", "MAX_SIZE", "MEMORY_FLOOR", "Limits", "parse_memory"]

MEMORY_FLOOR = 6 << 20
"""The least memory Docker starts a container with (6 MiB); smaller limits are refused."""
MAX_SIZE = 1 << 50
"""The largest size accepted (1 PiB): more than any machine, so a larger one is a typo."""
MAX_JOBS = 256
"""The most containers run at once: each holds a worker thread and a container."""
MAX_SECONDS = 7 * 24 * 3600.0
"""The longest timeout accepted (a week); ``1e309`` (infinity) and the like are typos."""

# Docker's own syntax (go-units RAMInBytes): a decimal number, then an optional binary unit.
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$", re.IGNORECASE | re.ASCII)
_SCALE = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DEVICE_ID = r"(?:\d+|GPU-[0-9A-Fa-f-]+)"
_GPU_IDS = re.compile(rf"^(?:device=)?{_DEVICE_ID}(?:,{_DEVICE_ID})*$", re.ASCII)
# Messages of the field validators leave the value out: the loaders and the command line show
# each refused value beside its field already.
_SIZE_EXPECTED = "expected a size such as 512m, 8g, 8gb, 8GiB or a number of bytes"
_GPUS_EXPECTED = "expected 'all', a count such as 2, or device ids such as 0,1"


def parse_memory(text: str | int) -> int:
    """Parse a size as Docker writes it into bytes.

    Parameters
    ----------
    text : str or int
        ``512m``, ``8g``, ``8gb``, ``8GiB``, ``1.5g``, ``100b``, ``"100"`` (bytes) or an int
        (bytes). Units are binary: ``k`` = 2**10, ``m`` = 2**20, ``g`` = 2**30, ``t`` = 2**40.

    Returns
    -------
    int
        Bytes, rounded down.

    Raises
    ------
    ValueError
        For anything else (a negative number, an unknown unit, a bool).

    Examples
    --------
    >>> parse_memory("8g"), parse_memory("256MiB"), parse_memory(1024)
    (8589934592, 268435456, 1024)
    >>> parse_memory("lots")
    Traceback (most recent call last):
    ...
    ValueError: expected a size such as 512m, 8g, 8gb, 8GiB or a number of bytes, got 'lots'
    """
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"{_SIZE_EXPECTED}, got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"a size cannot be negative, got {text}")
        return text
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{_SIZE_EXPECTED}, got {text!r}")
    unit = m.group(2).lower() if m.group(2) else None
    return int(float(m.group(1)) * _SCALE[unit])


def _size_text(value: Any) -> str:
    """Keep a size as the text it was given (an int becomes its digits), once it parses."""
    try:
        parse_memory(value)
    except ValueError:
        raise ValueError(_SIZE_EXPECTED) from None
    return str(value).strip()


def _gpus_text(value: Any) -> str | None:
    """``all``, a count (``2``) or device ids (``0,1``; ``device=0`` for one); None for none."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(_GPUS_EXPECTED)
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        if int(text) < 1:
            # Docker would read 0 as "no GPUs"; a reader may mean device 0. Say which to write.
            raise ValueError(
                "a GPU count must be at least 1; leave gpus out (null) for none, or write "
                "device=0 for device 0"
            )
        return text
    if text == "all" or (_GPU_IDS.match(text) and ("," in text or text.startswith("device="))):
        return text
    raise ValueError(_GPUS_EXPECTED)


Size = Annotated[str, BeforeValidator(_size_text)]
Gpus = Annotated[str | None, BeforeValidator(_gpus_text)]


class Limits(BaseModel):
    """Resources granted to each container run, the same for every team of a round.

    Attributes
    ----------
    timeout_s : float
        Wall-clock seconds per case (a folder-contract run gets it times its number of cases).
    memory : str
        Memory limit without swap (the swap limit is set equal), at least 6 MiB.
    cpus : float
        CPU limit in (fractional) cores.
    gpus : str or None
        ``all``, a count (``2``) or device ids (``0,1``, ``device=0``); None for none.
    jobs : int
        Containers run at once.
    pids : int
        Process and thread limit inside a container (``--pids-limit``).
    nofile : int
        Open files per process inside a container (``--ulimit nofile``, soft and hard alike).
        Stated on every engine: Docker would pass on its own daemon's limit, and Podman asks
        for a built-in one that may exceed what the host allows; it must fit the host's hard
        limit (:func:`harness.containers.isolation.container_ulimits`).
    retries : int
        Extra attempts of a container run that failed for engine reasons.
    tmp_size : str
        Size of the writable ``/tmp`` (a tmpfs, counted in the memory limit).
    max_output : str
        Cap on the size of ``/output`` per container run.
    max_output_files : int
        Cap on the number of entries in ``/output`` per container run.
    startup_timeout_s : float
        Seconds an invoke server (:mod:`harness.containers.invoke`) has to answer
        ``GET /health`` with 200 after its start: 300, as grand-challenge's shim allows for the
        start and the health check together.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(
        600.0, gt=0, le=MAX_SECONDS, description="Wall-clock seconds per case (at most a week)."
    )
    memory: Size = Field("8g", description="Memory limit, no swap (512m, 8g, 8GiB).")
    cpus: float = Field(2.0, gt=0, le=1024, description="CPU limit (fractional cores).")
    gpus: Gpus = Field(None, description="'all', a count such as 2, or device ids such as 0,1.")
    jobs: int = Field(1, ge=1, le=MAX_JOBS, description="Containers run at once (at most 256).")
    # A Python process with a few threads, the init and a shell already take about ten.
    pids: int = Field(
        256, ge=16, le=1 << 22, description="Process and thread limit inside a container."
    )
    nofile: int = Field(
        4096, ge=64, le=1 << 20, description="Open files per process inside a container."
    )
    retries: int = Field(
        2, ge=0, le=100, description="Extra attempts when the Docker engine fails."
    )
    tmp_size: Size = Field("1g", description="Size of the writable /tmp (counted in memory).")
    max_output: Size = Field("1g", description="Cap on the size of /output per container run.")
    max_output_files: int = Field(
        1000, ge=1, le=10**7, description="Cap on entries in /output per run."
    )
    startup_timeout_s: float = Field(
        300.0, gt=0, le=MAX_SECONDS, description="Seconds an invoke server has to become healthy."
    )

    @field_validator("memory", "tmp_size", "max_output")
    @classmethod
    def _at_most_a_petabyte(cls, value: str) -> str:
        if parse_memory(value) > MAX_SIZE:
            raise ValueError(f"must be at most 1024t ({MAX_SIZE} bytes); larger is a typo")
        return value

    @field_validator("memory", "tmp_size")
    @classmethod
    def _startable(cls, value: str) -> str:
        # /tmp lives in the container's memory, so it shares the floor.
        if parse_memory(value) < MEMORY_FLOOR:
            raise ValueError(
                f"must be at least 6m ({MEMORY_FLOOR} bytes), the least Docker starts a "
                "container with"
            )
        return value

    @field_validator("max_output")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_memory(value) < 1:
            raise ValueError("must be at least 1 byte")
        return value

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes."""
        return parse_memory(self.memory)

    @property
    def tmp_bytes(self) -> int:
        """The size of ``/tmp`` in bytes."""
        return parse_memory(self.tmp_size)

    @property
    def max_output_bytes(self) -> int:
        """The cap on ``/output`` in bytes."""
        return parse_memory(self.max_output)

    def gpu_request(self) -> tuple[int, tuple[str, ...] | None] | None:
        """The GPUs to request as ``(count, device_ids)``, Docker's device-request fields.

        Returns
        -------
        tuple or None
            None without GPUs; ``(-1, None)`` for all; ``(n, None)`` for a count;
            ``(0, ids)`` for device ids.

        Examples
        --------
        >>> [Limits(gpus=g).gpu_request() for g in (None, "all", 2, "0,1", "device=3")]
        [None, (-1, None), (2, None), (0, ('0', '1')), (0, ('3',))]
        """
        if self.gpus is None:
            return None
        if self.gpus == "all":
            return -1, None
        if self.gpus.isdigit():
            return int(self.gpus), None
        return 0, tuple(self.gpus.removeprefix("device=").split(","))
