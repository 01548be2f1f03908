"""Turns what Python code calls a stream into the CUstream value the C library takes.

Accepted: None or 0 (the legacy default stream), an int (a CUstream / cudaStream_t
address), a PyTorch stream (its .cuda_stream) and a CuPy stream (its .ptr).
"""


def stream_pointer(stream):
    if stream is None:
        return 0
    if isinstance(stream, bool):
        raise TypeError(
            "a stream must be None, an int address, or a PyTorch or CuPy stream, not a bool"
        )
    if isinstance(stream, int):
        return stream
    for attribute in ("cuda_stream", "ptr"):
        value = getattr(stream, attribute, None)
        if isinstance(value, int):
            return value
    raise TypeError(
        "a stream must be None, an int address, or a PyTorch (.cuda_stream) or CuPy (.ptr) "
        "stream, not " + type(stream).__name__
    )
