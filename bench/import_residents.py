"""The import of a county's resident file at full scale, on PostgreSQL: time and memory.

    bench/import [--rows 600000] [--database-url URL]

A benchmark county is made first (bench/generate at a small scale: its 300 villages are what
the file's rows name), then a file of ``--rows`` new residents is written as the county's
systems export it (UTF-8 CSV with Chinese headers), and ``flask --app wsgi import residents``
imports it in a child process, exactly as an operator runs it. Printed: the wall time, the
rows a second, the child's peak memory (its maximum resident set), each against its budget
(10 minutes and 1 GiB for 600,000 rows); the figures go to bench/results/import-<time>.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench import generate
from backend.security.identity import make_id_number

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jiayi_bench_import"
BUDGET_SECONDS = 600
BUDGET_MIB = 1024
HEADERS = ["姓名", "性别", "出生日期", "身份证号", "联系电话", "现住址", "行政区划代码"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "秀英桂兰玉华淑珍凤芝建国志强文明海燕丽娟春梅国华振国红梅晓东德明永刚玉梅金凤"
# The file's identity numbers are registered in another county (220881): people who moved here,
# so that none of them is one of the generated county's own residents.
ID_REGION = "220881"


def write_file(path: Path, rows: int, seed: int = 11) -> None:
    """``rows`` valid residents spread over the benchmark county's villages, each identity number once."""
    rng = random.Random(seed)
    villages = [f"{generate.REGION6}{101 + t:03d}{v + 1:03d}"
                for t in range(generate.TOWNSHIPS) for v in range(generate.VILLAGES_PER_TOWNSHIP)]
    first = date(1930, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for n in range(rows):
            born = first + timedelta(days=n % 29000)
            sequence = 100 + n // 29000  # unique with the birth date
            id_number = make_id_number(ID_REGION, born, sequence)
            village = villages[n % len(villages)]
            writer.writerow([
                rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                "男" if int(id_number[16]) % 2 else "女",
                born.isoformat(), id_number,
                f"13{rng.randrange(10**9):09d}",
                f"{n % 12 + 1}组{n % 97 + 1}号", village])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--database-url", default=os.environ.get("JIAYI_BENCH_IMPORT_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--file", type=Path, default=Path("/tmp/jiayi-bench-residents.csv"))
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)

    print(f"== a benchmark county in {args.database_url.rsplit('/', 1)[-1]}", flush=True)
    generate.main(["--scale", "0.01", "--database-url", args.database_url])
    print(f"== writing {args.rows:,} residents to {args.file}", flush=True)
    started = time.monotonic()
    write_file(args.file, args.rows)
    print(f"   {args.file.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s", flush=True)

    print("== flask --app wsgi import residents", flush=True)
    env = {**os.environ, **generate.bench_env(args.database_url)}
    command = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "import", "residents", str(args.file),
               "--region-code", generate.COUNTY, "--report", "/tmp/jiayi-bench-import-report.csv"]
    started = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    with open("/proc/loadavg") as loadavg:
        load = float(loadavg.read().split()[1])  # the 5-minute load while it ran: other work slows it
    if finished.returncode != 0:
        print(finished.stdout)
        print("the import failed", file=sys.stderr)
        return 1
    counts = json.loads(finished.stdout.strip().splitlines()[-1])
    result = {"rows": args.rows, "seconds": round(seconds, 1), "rows_per_second": round(args.rows / seconds),
              "importer_cpu_seconds": round(cpu, 1), "load_average_5min": load, "cpus": os.cpu_count(),
              "peak_mib": round(peak_mib), "counts": counts,
              "time_met": seconds <= BUDGET_SECONDS * args.rows / 600_000, "memory_met": peak_mib <= BUDGET_MIB}
    print(f"\n{'rows':>10} {'seconds':>8} {'rows/s':>8} {'peak MiB':>9}  budget (600,000 rows: 600 s, 1024 MiB)")
    print(f"{args.rows:>10,} {seconds:>8.1f} {result['rows_per_second']:>8,} {peak_mib:>9.0f}  "
          f"time {'met' if result['time_met'] else 'MISSED'}, memory {'met' if result['memory_met'] else 'MISSED'}")
    print(f"imported {counts['imported']:,}, already on file {counts['already_on_file']:,}, "
          f"rejected {counts['rejected']:,}; the importer's own CPU {cpu:.0f} s; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    RESULTS.mkdir(exist_ok=True)
    name = f"import-{time.strftime('%Y%m%dT%H%M%S')}{'-' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0 if result["time_met"] and result["memory_met"] and counts["imported"] == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
