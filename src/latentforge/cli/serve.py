"""`latentforge serve [RUNS_DIR]`: the runs of a folder over HTTP, a JSON API and the web
explorer (`latentforge.serve`; needs the `serve` extra)."""
from __future__ import annotations


def add_serve(add) -> None:
    p = add("serve", help="serve the runs of a folder over HTTP: a JSON API (encode, "
            "reconstruct, generate, ...) and the web explorer page (needs "
            "pip install 'latentforge[serve]')")
    p.add_argument("runs_dir", nargs="?", default="runs", metavar="RUNS_DIR",
                   help="folder whose subfolders are runs (default: runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0: any "
                   "free port)")
    p.add_argument("--max-models", type=int, default=4, help="loaded runs kept in memory "
                   "(default 4; the least recently used is dropped)")


def cmd_serve(args) -> int:
    from pathlib import Path

    from latentforge.errors import ConfigError, RunError
    from latentforge.serve.server import bind, check_available, make_server, url

    check_available()
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"Runs folder '{runs_dir}' does not exist; train a run first "
                       "(latentforge train ...) or pass the folder holding your runs.")
    if args.max_models < 1:
        raise ConfigError(f"--max-models must be at least 1, got {args.max_models}")
    sock = bind(args.host, args.port)
    from latentforge.serve.app import create_app

    server = make_server(create_app(runs_dir, args.max_models),
                         "warning" if getattr(args, "quiet", False) else "info")
    print(f"serving {runs_dir} at {url(sock)} (Ctrl-C stops)", flush=True)
    with sock:
        server.run(sockets=[sock])
    return 0


COMMANDS = {"serve": cmd_serve}
