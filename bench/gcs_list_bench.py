"""Listing a GCS tree: pyarrow's one recursive listing against R2D2's key ranges at once.

pyarrow's ``GcsFileSystem`` cannot list a folder's sub-folders, so a tree was one recursive listing
whose pages (1,000 objects) follow one another. :func:`r2d2.lake.gcs.tree` lists the top folders once,
then the objects below them in up to 16 key ranges at the same time. Against fake-gcs-server on
loopback (``make emulators``), with a delay added to every listing request by a small proxy, as a
cloud store's round trip adds it: the requests in a row are what the delay multiplies.

    .venv/bin/python bench/gcs_list_bench.py --objects 20000 --folders 400 --delay-ms 50
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "emulators" / "bin" / "fake-gcs-server"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Delay(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def delaying_proxy(target_port: int, delay_s: float) -> tuple[_Delay, list[int]]:
    """An HTTP proxy to ``target_port`` that waits ``delay_s`` before each object listing (GET .../o)."""
    listings = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "GET" and ("/o?" in self.path or self.path.endswith("/o")):
                listings[0] += 1
                time.sleep(delay_s)
                if "maxResults=" not in self.path:  # GCS pages hold 1,000 objects at most; the emulator all
                    self.path += ("&" if "?" in self.path else "?") + "maxResults=1000"
            conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    server = _Delay(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, listings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--folders", type=int, default=400, help="table folders under the root")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="added to each listing request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    port = _port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(SERVER), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1",
                             "-port", str(port), "-external-url", url, "-public-host", f"127.0.0.1:{port}",
                             "-log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        from r2d2.lake import fs as lakefs
        from r2d2.lake import gcs

        direct = {"endpoint_override": url, "anonymous": "true", "project_id": "bench"}
        lakefs.set_storage_options({"gs": direct})
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        lakefs.makedirs(f"gs://{bucket}")
        per = max(1, args.objects // args.folders)

        def put(i: int) -> None:
            lakefs.write_bytes(f"gs://{bucket}/lake/t{i // per:05d}/year={i % 3}/part-{i:06d}.parquet", b"x")

        with ThreadPoolExecutor(32) as pool:
            list(pool.map(put, range(per * args.folders)))
        proxy, listings = delaying_proxy(port, args.delay_ms / 1000)
        via = f"http://127.0.0.1:{proxy.server_address[1]}"
        lakefs.set_storage_options({"gs": {**direct, "endpoint_override": via}})
        fs, path = lakefs.resolve(f"gs://{bucket}/lake")
        opts = {**direct, "endpoint_override": via}
        rows = []
        for _ in range(args.repeat):
            for name, run in (("pyarrow, one recursive listing", lambda: lakefs._gcs_tree(fs, path)),
                              ("R2D2, key ranges at once (16)", lambda: gcs.tree(opts, path, threads=16))):
                before = listings[0]
                start = time.perf_counter()
                listed = run()
                seconds = time.perf_counter() - start
                files = sum(1 for entries in listed.values() for e in entries if e.is_file)
                rows.append({"how": name, "seconds": round(seconds, 2), "listing_requests": listings[0] - before,
                             "files": files, "folders": len(listed)})
                print(rows[-1], file=sys.stderr)
        proxy.shutdown()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    best: dict[str, dict] = {}
    for row in rows:
        if row["how"] not in best or row["seconds"] < best[row["how"]]["seconds"]:
            best[row["how"]] = row
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gcs_list.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                        "rows": rows}, indent=1))
    lines = ["# Listing a GCS tree", "",
             f"`python bench/gcs_list_bench.py --objects {args.objects} --folders {args.folders} "
             f"--delay-ms {args.delay_ms:g}`", "",
             f"{per * args.folders:,} objects in {args.folders} table folders (each hive-partitioned in 3) "
             f"on fake-gcs-server, {args.delay_ms:g} ms added to every listing request by a proxy; best of "
             f"{args.repeat}.", "",
             "| listing | seconds | listing requests | files | folders |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['how']} | {r['seconds']} | {r['listing_requests']} | {r['files']} | {r['folders']} |"
              for r in best.values()]
    (args.out / "gcs_list.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
