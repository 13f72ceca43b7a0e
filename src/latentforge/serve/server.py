"""Running the app: the optional packages checked first (one clear error), the socket
bound by us (so a port in use is one clear error, and port 0 picks a free one), then
uvicorn serving on it until Ctrl-C or `server.should_exit`. FastAPI and uvicorn are
imported inside the functions: this module imports without them."""
from __future__ import annotations

import socket

from latentforge.errors import ConfigError

PACKAGES = ("fastapi", "fastapi_offline", "uvicorn", "multipart")
INSTALL = "pip install 'latentforge[serve]'"


def check_available() -> None:
    """ConfigError naming the install command when a package of the serve extra is
    missing."""
    import importlib.util

    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"latentforge serve needs the serve extra ({', '.join(missing)} "
                          f"missing): {INSTALL}")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: a free port); ConfigError when the address
    cannot be used (a port in use, an unknown host, a privileged port)."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in [0, 65535], got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"Cannot serve on {host}:{port} ({exc.strerror or exc}); "
                          "check --host.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"Cannot serve on {host}:{port} ({exc.strerror or exc}); the "
                          "port may be in use: choose another with --port.") from None
    return sock


def url(sock: socket.socket) -> str:
    """http://HOST:PORT/ of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(app, log_level: str = "info"):
    """A uvicorn Server for `app` (run it with ``server.run(sockets=[sock])``; set
    ``server.should_exit = True`` to stop it)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5))
