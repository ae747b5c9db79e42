"""HTTP serving speed: single-row `POST /predict` of `dlwork serve` against a trivial endpoint of the same app
(`GET /health`, the named baseline), measured in one run with 8 concurrent clients on loopback.

A penguins bundle is trained and exported, `dlwork serve` starts with logging on (as in production), and each of
`--clients` threads keeps one HTTP/1.1 connection open and sends requests back to back for `--seconds` seconds,
first to /health, then to /predict (one record, the dict fast path), then to /health again; the baseline is the
mean of the two /health runs. Prints requests per second, p50 and p99 latency of each, and
`ratio http_predict_vs_trivial VALUE` (target ≥ 0.70) for a server with one worker process per core (`--workers`),
and the same figure for a single worker, which on a 2-core machine competes for the cores with the load generator's
threads, so that every microsecond of model work shows.
Then /predict is held at that capacity for `--sustain` seconds (60): the requests that failed (`ratio
http_sustained_errors`, target 0), p50 and p99.
Run: python bench/bench_serve.py [--clients 8] [--seconds 5] [--sustain 60] [--workers N]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

warnings.filterwarnings('ignore')

import numpy as np

RECORD = {'island': 'Biscoe', 'bill_length_mm': 48.6, 'bill_depth_mm': 16.0, 'flipper_length_mm': 230.0,
          'body_mass_g': 5800.0, 'sex': 'MALE'}


def load(port: int, method: str, path: str, clients: int, seconds: float, errors: list | None = None) -> tuple:
    "(requests per second, latencies in ms) of `clients` keep-alive connections hammering one endpoint; failures (a status other than 200, a dropped connection) go to `errors`."
    body = json.dumps(RECORD).encode() if method == 'POST' else None
    latencies, lock, stop = [], threading.Lock(), time.time() + seconds
    errors = [] if errors is None else errors

    def client():
        conn, mine = http.client.HTTPConnection('127.0.0.1', port, timeout=30), []
        while time.time() < stop:
            t = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers={'Content-Type': 'application/json'})
                response = conn.getresponse()
                response.read()
            except OSError as e:
                with lock:
                    errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
                continue
            if response.status != 200:
                with lock:
                    errors.append(response.status)
                continue
            mine.append((time.perf_counter() - t) * 1e3)
        conn.close()
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.time() - started), np.array(latencies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=5)
    parser.add_argument('--sustain', type=float, default=60,
                        help='then /predict for this many seconds at capacity (the same clients, back to back): errors, p50, p99')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='server worker processes for the ratio (default: one per core); 1 worker is measured too')
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    dlwork = shutil.which('dlwork', path=os.path.dirname(sys.executable)) or 'dlwork'
    for command in (['train', '--example', 'penguins', '--epochs', '3', '--quiet'], ['export', 'runs/penguins', '--quiet']):
        subprocess.run([dlwork, *command], cwd=tmp, check=True)
    ratios = {}
    for workers in (args.workers, 1) if args.workers != 1 else (1,):
        ratios[workers] = serve_and_load(dlwork, tmp, workers, args)
    for workers, ratio in ratios.items():
        print(f'{workers} worker process(es): /predict keeps {ratio:.2f} of the trivial endpoint\'s requests/s')
    print(f"ratio http_predict_vs_trivial {ratios[args.workers]:.2f}")


def serve_and_load(dlwork: str, tmp: Path, workers: int, args) -> float:
    "Start `dlwork serve` with `workers` processes, load /health, /predict, /health; return predict / mean health."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([dlwork, 'serve', 'runs/penguins/bundle', '--port', str(port), '--quiet', '--workers',
                               str(workers), *(['--no-log'] if os.environ.get('NOLOG') else [])], cwd=tmp)
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=2)
                conn.request('GET', '/ready')
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        load(port, 'POST', '/predict', 2, 1.0)  # warm up
        results = {}
        for name, method, path in [('health 1', 'GET', '/health'), ('predict', 'POST', '/predict'), ('health 2', 'GET', '/health')]:
            rps, lat = load(port, method, path, args.clients, args.seconds)
            results[name] = rps
            print(f'{workers} worker(s) {name:9s} {rps:8.0f} requests/s, p50 {np.quantile(lat, 0.5):.2f} ms, '
                  f'p99 {np.quantile(lat, 0.99):.2f} ms')
        if workers == args.workers and args.sustain:  # capacity held for a minute: nothing may fail
            errors = []
            rps, lat = load(port, 'POST', '/predict', args.clients, args.sustain, errors)
            print(f'{workers} worker(s) sustained {args.sustain:g} s with {args.clients} clients: {len(lat)} predictions, '
                  f'{rps:.0f} requests/s, p50 {np.quantile(lat, 0.5):.2f} ms, p99 {np.quantile(lat, 0.99):.2f} ms, '
                  f'{len(errors)} errors{" " + str(errors[:5]) if errors else ""}')
            print(f'ratio http_sustained_errors {len(errors)}')
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results['predict'] / ((results['health 1'] + results['health 2']) / 2)


if __name__ == '__main__':
    main()
