"""`make bench`: every benchmark in one run, then docs/benchmarks.md and docs/benchmarks.json.

Each benchmark is its own script (bench/<name>.py, runnable alone, --help for its options) that
starts what it needs (a throwaway PostgreSQL, Redis, nginx, gunicorn), interleaves the two sides
of each comparison in rounds, counts medians, checks every answer's status and writes its figures
(bench/harness.py). This script runs them one after the other, never two at once, prints the
machine's load around each, and writes:

- docs/benchmarks.json: every figure, {"figure", "value", "unit", "detail"};
- docs/benchmarks.md: the goals (met or not), the machine, the commands, each benchmark's own
  table, and two plots (docs/benchmarks-sweep.svg, docs/benchmarks-rps.svg).

Goals are printed, met or not; nothing here fails because a goal is missed. A benchmark that fails
(a wrong answer, a crash, past its time) is reported as failed, the others still run, and the run
exits with an error at the end.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness import machine_load, say

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Benchmark:
    script: str
    what: str
    timeout_minutes: int


BENCHMARKS = [
    Benchmark("gateway_verify.py", "POST /gateway/verify against a bare view and djangorestframework-api-key", 6),
    Benchmark("edge.py", "requests through nginx with the shipped auth_request configuration", 6),
    Benchmark("oauth_token.py", "POST /oauth/token and bearer reads against a bare view and django-oauth-toolkit", 6),
    Benchmark("reminder_sweep.py", "the reminder sweep, 100,000 due keys among 100,000 and 1,000,000", 10),
    Benchmark("list_pages.py", "the list pages at 10 and 10,000 rows, and the admin changelist", 5),
    Benchmark("rotate_secrets.py", "rotate_encryption_keys over 100,000 stored secrets", 4),
]


@dataclass(frozen=True)
class Goal:
    figure: str
    at_least: float | None = None
    at_most: float | None = None

    def met(self, value: float) -> bool:
        return (self.at_least is None or value >= self.at_least) and (self.at_most is None or value <= self.at_most)

    def text(self) -> str:
        return f">= {self.at_least:g}" if self.at_least is not None else f"<= {self.at_most:g}"


# The goals, in the order of docs/benchmarks.md.
GOALS = [
    Goal("verify/bare", at_least=1.0),
    Goal("verify/library", at_least=3),
    Goal("failure/success", at_least=0.9),
    Goal("edge/upstream", at_least=0.7),
    Goal("edge/revoked_refused_s", at_most=1.0),
    Goal("token/bare", at_least=0.5),
    Goal("token/django-oauth-toolkit", at_least=10),
    Goal("api_read/bare", at_least=0.5),
    Goal("reminders_per_s", at_least=5000),
    Goal("sweep_1m/100k", at_most=1.2),
    Goal("sweep_peak_rss_mb", at_most=199.99),
    Goal("approved_requests_queries_10k/10", at_most=1.0),
    Goal("my_api_keys_queries_10k/10", at_most=1.0),
    Goal("approvals_inbox_queries_10k/10", at_most=1.0),
    Goal("approved_requests_ms/admin_changelist_ms", at_most=1.0),
    Goal("rotate_secrets_per_s", at_least=20000),
]


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = f"{int(found.group(1)) / 2**20:.0f} GiB" if found else ""
    pg = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return {
        "CPU": f"{os.cpu_count()} x {cpu}",
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": _version([str(pg[-1]), "--version"]) if pg else "not installed",
        "nginx": _version(["nginx", "-v"]),
        "Redis": _version(["redis-server", "--version"]),
        "wrk": _version(["wrk", "--version"]),
    }


def _version(command: list[str]) -> str:
    if not shutil.which(command[0]):
        return "not installed"
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed commands
    output = (result.stdout + result.stderr).strip().splitlines()
    return output[0] if output else "unknown"


def run(benchmark: Benchmark, quick: bool, tmp: Path) -> tuple[list[dict], str, float, str]:
    """Run one benchmark, its output shown as it comes: its figures, output, minutes and failure."""
    figures_path = tmp / f"{benchmark.script}.json"
    command = [sys.executable, str(ROOT / "bench" / benchmark.script), "--figures", str(figures_path)]
    if quick:
        command.append("--quick")
    say(f"{benchmark.script}: {benchmark.what} ({machine_load()})")
    started = time.monotonic()
    output = []
    with subprocess.Popen(  # noqa: S603 - our own scripts
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            output.append(line)
            if time.monotonic() - started > benchmark.timeout_minutes * 60:
                process.kill()
                failure = f"ran longer than its {benchmark.timeout_minutes} minutes"
                break
        else:
            failure = f"failed (exit code {process.returncode})" if process.wait() else ""
    minutes = (time.monotonic() - started) / 60
    if failure or not figures_path.exists():
        failure = failure or "wrote no figures"
        say(f"{benchmark.script} {failure}")
        return [], "".join(output), minutes, failure
    say(f"{benchmark.script} took {minutes:.1f} min ({machine_load()})")
    return json.loads(figures_path.read_text()), "".join(output), minutes, ""


def the_table(output: str) -> str:
    """A benchmark's results as it printed them: what follows its last progress line (==> ...)."""
    lines = output.rstrip().splitlines()
    last_progress = max((i for i, line in enumerate(lines) if line.startswith("==> ")), default=-1)
    tail = [line for line in lines[last_progress + 1 :] if not line.startswith("==> ")]
    if not tail:  # figures written after the table: everything between the last progress lines
        tail = [line for line in lines if not line.startswith("==> ")]
    return "\n".join(tail).strip("\n")


def plots(figures: dict[str, dict], sweep_svg: Path, rps_svg: Path) -> None:
    """Sweep time against keys, and req/s per scenario, as SVG."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "portico"  # the same figures give the same file
    sweeps = sorted(
        (int(name.split("@")[1]), f["value"]) for name, f in figures.items() if name.startswith("sweep_seconds@")
    )
    figure, axes = plt.subplots(figsize=(6, 3.2))
    if sweeps:
        axes.plot([k for k, _ in sweeps], [s for _, s in sweeps], marker="o", color="#1f4e79")
        for keys, seconds in sweeps:
            axes.annotate(f"{seconds:.1f} s", (keys, seconds), textcoords="offset points", xytext=(0, 8), ha="center")
        axes.set_xscale("log")
        axes.set_ylim(bottom=0, top=max(s for _, s in sweeps) * 1.3)
    axes.set_xlabel("keys in the database (log scale)")
    axes.set_ylabel("sweep time (s)")
    axes.set_title("Reminder sweep: the same number of due keys among more keys")
    figure.tight_layout()
    figure.savefig(sweep_svg, metadata={"Date": None})
    plt.close(figure)

    scenarios = [(name.removeprefix("rps/"), f["value"]) for name, f in figures.items() if name.startswith("rps/")]
    figure, axes = plt.subplots(figsize=(7, 0.35 * max(len(scenarios), 1) + 1.2))
    axes.barh([name for name, _ in scenarios][::-1], [value for _, value in scenarios][::-1], color="#1f4e79")
    for index, (_name, value) in enumerate(scenarios[::-1]):
        axes.annotate(f"{value:,.0f}", (value, index), textcoords="offset points", xytext=(4, -3), fontsize=8)
    axes.set_xlabel("requests per second (median of the rounds)")
    axes.set_title("Requests per second by scenario")
    figure.tight_layout()
    figure.savefig(rps_svg, metadata={"Date": None})
    plt.close(figure)


def markdown(
    figures: dict[str, dict],
    outputs: dict[str, tuple[str, float, str]],
    facts: dict[str, str],
    quick: bool,
    total: float,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); do not edit by hand. Every figure is also in",
        "[benchmarks.json](benchmarks.json). Goals are the performance issue's; they are reported here, met or",
        "not, and never asserted in tests (query counts aside, which the tests do check).",
        "",
        f"Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {total:.1f} minutes in all"
        + (" (**--quick: a smoke run, not figures to quote**)" if quick else "")
        + ".",
        "",
        "## Goals",
        "",
        "| figure | value | goal | |",
        "| --- | ---: | --- | --- |",
    ]
    for goal in GOALS:
        found = figures.get(goal.figure)
        if found is None:
            lines.append(f"| `{goal.figure}` | not measured | {goal.text()} | **missing** |")
            continue
        verdict = "met" if goal.met(found["value"]) else "**not met**"
        lines.append(f"| `{goal.figure}` | {found['value']:,.2f} {found['unit']} | {goal.text()} | {verdict} |")
    lines += ["", "## The machine", ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    lines += [
        "",
        "## The commands",
        "",
        "```sh",
        "make bench                                   # all of them, writes this page",
        ".venv/bin/python bench/run.py --quick        # a smoke run of all of them",
        ".venv/bin/python bench/<name>.py --help      # one of them, its options",
        "```",
        "",
        "## Plots",
        "",
        "![Reminder sweep time against keys](benchmarks-sweep.svg)",
        "",
        "![Requests per second by scenario](benchmarks-rps.svg)",
        "",
    ]
    for benchmark in BENCHMARKS:
        output, minutes, failure = outputs[benchmark.script]
        lines += [
            f"## `bench/{benchmark.script}`",
            "",
            f"{benchmark.what[0].upper()}{benchmark.what[1:]} ({minutes:.1f} min)."
            + (f" **It {failure}: its figures are missing.**" if failure else ""),
            "",
            "```",
            the_table(output),
            "```",
            "",
        ]
    lines += ["## Every figure", "", "| figure | value | unit | detail |", "| --- | ---: | --- | --- |"]
    for name, found in figures.items():
        lines.append(f"| `{name}` | {found['value']:,.4g} | {found['unit']} | {found['detail']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of every benchmark (figures not to quote)")
    parser.add_argument("--only", action="append", help="run only this script (repeatable); docs are not written")
    parser.add_argument("--out", type=Path, default=DOCS, help="where benchmarks.md/.json go (default docs/)")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b.script in args.only]
    facts = machine()
    say("Machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    facts["at the start"] = machine_load()
    started = time.monotonic()
    figures: dict[str, dict] = {}
    outputs: dict[str, tuple[str, float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="portico-bench-run.") as tmp:
        for benchmark in chosen:
            found, output, minutes, failure = run(benchmark, args.quick, Path(tmp))
            figures.update({f["figure"]: f for f in found})
            outputs[benchmark.script] = (output, minutes, failure)
    failed = [script for script, (_output, _minutes, failure) in outputs.items() if failure]
    total = (time.monotonic() - started) / 60
    facts["at the end"] = machine_load()

    print()
    say(f"All benchmarks done in {total:.1f} minutes ({machine_load()})")
    width = max(len(goal.figure) for goal in GOALS)
    for goal in GOALS:
        found = figures.get(goal.figure)
        if found is None:
            print(f"  {goal.figure:<{width}}  not measured")
            continue
        verdict = "met" if goal.met(found["value"]) else "NOT MET"
        print(f"  {goal.figure:<{width}}  {found['value']:>12,.2f} {found['unit']:<8} goal {goal.text():<8} {verdict}")
    if failed:
        print(f"  failed: {', '.join(failed)}")
    if args.only:
        sys.exit(1 if failed else 0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(list(figures.values()), indent=2) + "\n")
    plots(figures, args.out / "benchmarks-sweep.svg", args.out / "benchmarks-rps.svg")
    (args.out / "benchmarks.md").write_text(markdown(figures, outputs, facts, args.quick, total))
    say(f"Wrote {args.out / 'benchmarks.md'}, benchmarks.json and the two plots")
    if failed:
        sys.exit(f"make bench: {', '.join(failed)} failed")


if __name__ == "__main__":
    main()
