"""``--dist-url``: where the processes of a run meet (torch.distributed's TCP store).

``tcp://HOST:PORT`` names machine 0 and a port it listens on; every machine is given
the same URL. ``auto`` picks a free port on this machine and is only valid when one
machine takes part. Checked before any worker starts, one clear message per mistake.
"""
import errno
import socket
from urllib.parse import urlsplit

from ..utils.errors import EngineError

__all__ = ["resolve_dist_url", "parse_dist_url", "find_free_port", "check_port_free"]


def find_free_port() -> int:
    """A port nobody listens on now (the OS picks it; a tiny race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def parse_dist_url(url: str):
    """``tcp://HOST:PORT`` -> (host, port); EngineError naming what is wrong."""
    hint = "expected tcp://HOST:PORT (e.g. tcp://10.0.0.1:29500) or 'auto'"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise EngineError(f"--dist-url {url!r}: {e}; {hint}") from None
    if parts.scheme != "tcp":
        raise EngineError(f"--dist-url {url!r}: scheme {parts.scheme or '(none)'!r} is not supported; {hint}")
    if not parts.hostname:
        raise EngineError(f"--dist-url {url!r}: no host; {hint}")
    if port is None:
        raise EngineError(f"--dist-url {url!r}: no port; {hint}")
    if not 1 <= port <= 65535:
        raise EngineError(f"--dist-url {url!r}: port {port} is not in 1..65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EngineError(f"--dist-url {url!r}: unexpected path or query; {hint}")
    return parts.hostname, port


def check_port_free(port: int, url: str) -> None:
    """Machine 0 will listen on ``port``: fail now if something already does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the TCP store does
        try:
            sock.bind(("", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise EngineError(
                    f"--dist-url {url}: port {port} is already in use on this machine (machine "
                    f"rank 0 listens there); choose another port, or --dist-url auto on one machine"
                ) from None
            raise EngineError(f"--dist-url {url}: cannot listen on port {port}: {e.strerror}") from None


def resolve_dist_url(url: str, num_machines: int, machine_rank: int) -> str:
    """The URL the workers will use; EngineError when it can not work."""
    url = (url or "auto").strip()
    if url == "auto":
        if num_machines > 1:
            raise EngineError(
                f"--dist-url auto picks a port on this machine, so it only works with "
                f"--num-machines 1 (got {num_machines}): give every machine "
                f"--dist-url tcp://HOST:PORT of machine 0"
            )
        return f"tcp://127.0.0.1:{find_free_port()}"
    host, port = parse_dist_url(url)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise EngineError(f"--dist-url {url}: host {host!r} does not resolve ({e.strerror})") from None
    if machine_rank == 0:
        check_port_free(port, url)
    return url
