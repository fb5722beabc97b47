"""The doctors' app's first load, weighed against its budget (issue 19: <= 300 KB compressed).

    bench/app_load                       # the app built here, served in-process
    bench/app_load --url http://HOST:PORT  # a running service

The first load is the shell page and everything it and the service worker fetch before the app
can open offline: the page's stylesheet, scripts and manifest, the modules those scripts import,
the manifest's icons and the service worker's precache list (read from /app/sw.js itself, so the
figure follows the code). Each is fetched with ``Accept-Encoding: gzip``; a body the server sends
uncompressed (Flask does not compress: gzip belongs to the reverse proxy in front of it) is
weighed as that proxy would send it, gzip level 6. Writes bench/results/app-load-<time>.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BUDGET = 300 * 1024


def fetcher(url: str | None):
    """A function path -> (status, headers, raw body as sent)."""
    if url:
        import requests

        session = requests.Session()

        def fetch(path):
            response = session.get(url.rstrip("/") + path, headers={"Accept-Encoding": "gzip"}, stream=True)
            raw = response.raw.read(decode_content=False)
            return response.status_code, response.headers, raw
        return fetch

    from backend import create_app

    client = create_app().test_client()

    def fetch(path):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        return response.status_code, response.headers, response.get_data()
    return fetch


def body_of(headers, raw: bytes) -> bytes:
    return gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw


def references(path: str, text: str) -> list[str]:
    """The same-origin paths a shell file asks for."""
    found: list[str] = []
    if path.endswith("/") or path.endswith(".html"):
        found += re.findall(r'(?:src|href)="(/[^"]+)"', text)
    elif path.endswith(".webmanifest"):
        found += [icon["src"] for icon in json.loads(text).get("icons", [])]
    elif path.endswith(".js"):
        found += [urljoin(path, m) for m in re.findall(r'(?:import|from)\s*"(\.{1,2}/[^"]+)"', text)]
        found += re.findall(r'"(/app/[^"]*)"', text)
        found += re.findall(r'register\("(/[^"]+)"', text)
    return [p for p in found if p.startswith("/app")]


def weigh(fetch) -> list[dict]:
    queue, seen, rows = ["/app/", "/app/sw.js"], set(), []
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        status, headers, raw = fetch(path)
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}")
        body = body_of(headers, raw)
        sent_gzip = headers.get("Content-Encoding") == "gzip"
        # Images are sent as they are (a proxy does not gzip a PNG).
        compressed = len(raw) if sent_gzip or path.endswith(".png") else len(gzip.compress(body, compresslevel=6))
        rows.append({"path": path, "bytes": len(body), "gzip_bytes": compressed, "served_gzip": sent_gzip,
                     "cache_control": headers.get("Cache-Control")})
        if not path.endswith(".png"):
            queue += references(path, body.decode("utf-8"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service (default: the app built here, in-process)")
    args = parser.parse_args(argv)
    rows = weigh(fetcher(args.url))
    total = sum(r["gzip_bytes"] for r in rows)
    raw_total = sum(r["bytes"] for r in rows)
    width = max(len(r["path"]) for r in rows)
    print(f"{'file':<{width}}  {'bytes':>8}  {'gzip':>8}")
    for r in rows:
        print(f"{r['path']:<{width}}  {r['bytes']:>8,}  {r['gzip_bytes']:>8,}")
    verdict = "within" if total <= BUDGET else "OVER"
    print(f"{'first load (' + str(len(rows)) + ' files)':<{width}}  {raw_total:>8,}  {total:>8,}")
    print(f"compressed {total / 1024:.1f} KB of the {BUDGET // 1024} KB budget: {verdict}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"app-load-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"files": rows, "bytes": raw_total, "gzip_bytes": total, "budget_bytes": BUDGET,
                               "within_budget": total <= BUDGET}, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
