"""Run llama.cpp's OpenAI-compatible server (xllamacpp) on the local model: `python -m rag.llm.server`.

A separate process so that a crash or a slow load never takes the API down with it, and so that
`rag ask` and `rag serve` can share one loaded model.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from rag.config import Settings, cpu_threads
from rag.llm.model_files import MODEL_NAME, ensure_model


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=settings.local_llm_host)
    parser.add_argument("--port", type=int, default=settings.local_llm_port)
    parser.add_argument("--ctx", type=int, default=settings.local_llm_ctx)
    parser.add_argument("--parallel", type=int, default=settings.local_llm_parallel, help="concurrent generation slots")
    parser.add_argument(
        "--cache-mb", type=int, default=settings.local_llm_cache_mb, help="RAM for the cache of earlier prompts"
    )
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process (our starter) ends")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s llm-server %(message)s")
    if args.parent_pid:
        die_with_parent(args.parent_pid)

    import xllamacpp as xlc  # imported here: only this process needs llama.cpp loaded

    path = ensure_model(settings.models_dir)
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.model_alias = MODEL_NAME
    params.hostnames = [args.host]
    params.port = args.port
    # Each slot gets ctx/parallel tokens: keep every slot large enough for a full prompt.
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx * args.parallel
    params.cpuparams.n_threads = cpu_threads(settings.local_llm_threads)
    params.cpuparams_batch.n_threads = cpu_threads(settings.local_llm_threads)
    params.warmup = False
    # llama.cpp keeps earlier prompts' KV state in RAM, up to 8 GB by default: on a laptop that is the memory
    # of everything else. ~40 MB a cached prompt here, so the default holds a handful (one answer's calls).
    params.cache_ram_mib = args.cache_mb
    server = xlc.Server(params)
    logging.info("serving %s at %s/v1", MODEL_NAME, server.listening_address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    logging.info("stopping")
    # Nothing to save: exit at once rather than through the server's destructors, which on a busy machine took
    # over 15 s to unwind llama.cpp's threads and unmap 1.1 GB; the kernel frees the memory and the port now.
    os._exit(0)


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to send us SIGTERM when our parent dies (PR_SET_PDEATHSIG), so a killed `rag serve` never
    leaves 2 GB of model and its port behind; elsewhere, a thread watches the parent instead."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl failed")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # it died before we asked
        sys.exit(0)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
