"""Usage errors on every command go through click's path: its message, exit 2, no traceback,
no "internal error". Also --version, ``python -m gigatrain``, escaping and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from gigatrain.interfaces import cli

COMMANDS = typer.main.get_command(cli.app).commands  # every registered command, optional ones too
#: sample valid values for required parameters, so one bad option can be tested alone
REQUIRED = {
    "--model": "llama-3.1-8b",
    "--chip": "h100-sxm",
    "--chips": "64",
    "kind": "chips",
    "claims": "src/gigatrain/examples/deal-2gw-trainium.yaml",
    "path": "src/gigatrain/examples/roadmap.yaml",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``gigatrain ARGS`` in-process through :func:`cli.main`: (exit code, stdout, stderr)."""
    code = 0
    try:
        cli.main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, " ".join(out.err.split())


def _required_args(name: str) -> list[str]:
    args: list[str] = []
    for p in COMMANDS[name].params:
        if p.required:
            key = p.opts[0]
            args += (
                [key, REQUIRED.get(key, "x")] if key.startswith("-") else [REQUIRED.get(key, "x")]
            )
    return args


def _assert_usage_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err
    for n in needles:
        assert n in err, err


def test_every_command_is_listed() -> None:
    assert {
        "estimate",
        "search",
        "cost",
        "compare",
        "fleet",
        "check",
        "validate",
        "catalog",
        "calibrate",
        "measure",
    } <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_option_is_a_usage_error(capsys, name: str) -> None:
    code, _, err = run(capsys, name, *_required_args(name), "--no-such-option")
    _assert_usage_error(code, err, "No such option", "--no-such-option")


@pytest.mark.parametrize(
    "name", sorted(n for n in COMMANDS if any(p.required for p in COMMANDS[n].params))
)
def test_missing_required_parameter_is_a_usage_error(capsys, name: str) -> None:
    code, _, err = run(capsys, name)
    _assert_usage_error(code, err, "Missing")


def _typed_option(name: str, kind: type) -> str | None:
    """The first ``--option`` of command ``name`` whose value is of type ``kind``."""
    for p in COMMANDS[name].params:
        bare = p.bare_type() if callable(getattr(p, "bare_type", None)) else None
        if p.opts[0].startswith("--") and not p.is_flag and bare in (kind, kind.__name__):
            return p.opts[0]
    return None


@pytest.mark.parametrize(
    "name", sorted(n for n in COMMANDS if _typed_option(n, int) or _typed_option(n, float))
)
def test_non_numeric_value_is_a_usage_error(capsys, name: str) -> None:
    opt = _typed_option(name, int) or _typed_option(name, float)
    assert opt is not None
    args = [a for a in _required_args(name)]
    if opt in args:  # replace the sample value of a required option
        args[args.index(opt) + 1] = "16k"
    else:
        args += [opt, "16k"]
    code, _, err = run(capsys, name, *args)
    _assert_usage_error(code, err, "Invalid value", opt)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_every_command(capsys, name: str) -> None:
    code, out, _ = run(capsys, name, "--help")
    assert code == 0 and "Usage" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            [
                "estimate",
                "-m",
                "llama-3.1-8b",
                "-c",
                "h100-sxm",
                "--chips",
                "64",
                "--recompute",
                "partial",
            ],
            "partial",
        ),
        (["estimate", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--chips", "16k"], "--chips"),
        (["nope"], "No such command"),
        (["catalog", "gpus"], "Invalid value"),
        (["calibrate", "--device", "tpu"], "Invalid value"),
    ],
)
def test_bad_values_are_usage_errors(capsys, args: list[str], needle: str) -> None:
    code, _, err = run(capsys, *args)
    _assert_usage_error(code, err, needle)


def test_no_arguments_shows_help_and_exits_2(capsys) -> None:
    code, out, err = run(capsys)
    assert code == 2 and "estimate" in out + err and "internal error" not in err


def test_cli_runner_sees_click_usage_errors() -> None:
    res = CliRunner().invoke(cli.app, ["estimate", "--bogus"])
    assert res.exit_code == 2 and "No such option" in res.output


def test_version(capsys) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"gigatrain {version('gigatrain')}"


def test_python_dash_m_version_and_usage_error() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "gigatrain", "--version"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0 and ok.stdout.startswith("gigatrain ")
    bad = subprocess.run(
        [sys.executable, "-m", "gigatrain", "estimate", "--chip", "h100-sxm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Missing option" in bad.stderr
    assert "internal error" not in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------- markup, exit codes
@pytest.mark.parametrize(
    "args, shown",
    [
        (["estimate", "-m", "x[/foo]", "-c", "h100-sxm", "--chips", "8"], "'x[/foo]'"),
        (
            ["estimate", "-m", "runs[v2]/nope.json", "-c", "h100-sxm", "--chips", "8"],
            "runs[v2]/nope.json",
        ),
        (["validate", "--runs", "runs[v2]/nope.csv"], "runs[v2]/nope.csv"),
        (["estimate", "-m", "llama-3.1-8b", "-c", "h100[bold]", "--chips", "8"], "h100[bold]"),
    ],
)
def test_user_text_is_never_rich_markup(capsys, args: list[str], shown: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2 and shown in err and "internal error" not in err


def test_seq_zero_is_an_error_naming_field_value_and_range(capsys) -> None:
    code, _, err = run(
        capsys, "estimate", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--chips", "8", "--seq", "0"
    )
    assert code == 2 and "seq" in err and "got 0" in err and "1..10,000,000" in err


def test_search_exits_1_when_nothing_fits(capsys) -> None:
    args = [
        "search",
        "-m",
        "llama-3.1-405b",
        "-c",
        "h100-sxm",
        "--chips",
        "8",
        "--global-batch",
        "8",
        "--seq",
        "8192",
    ]
    code, out, _ = run(capsys, *args)
    assert code == 1 and "nothing fits" in out.replace("\n", " ")
    code, out, _ = run(capsys, *args, "--json")
    assert code == 1 and '"top": []' in out


def test_cost_exits_1_when_nothing_fits(capsys) -> None:
    code, _, err = run(
        capsys,
        "cost",
        "-m",
        "llama-3.1-405b",
        "-c",
        "h100-sxm",
        "--chips",
        "8",
        "--tokens",
        "1T",
        "--global-batch",
        "8",
        "--seq",
        "8192",
    )
    assert code == 1 and "internal error" not in err


def test_exit_code_classification() -> None:
    from gigatrain.errors import GigatrainError, NoFeasiblePlanError

    assert cli.exit_code_for(GigatrainError("tp=6 does not divide 64 heads")) == 2
    assert cli.exit_code_for(NoFeasiblePlanError("no plan fits")) == 1
    assert cli.exit_code_for(GigatrainError("nothing fits on 8 × h100-sxm: ...")) == 1


# ------------------------------------------------------------------------- 80 columns
def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


@pytest.mark.parametrize(
    "kind", ["chips", "models", "systems", "prices", "economics", "frameworks"]
)
def test_catalog_tables_fit_80_columns_and_wide_shows_sources(
    capsys, monkeypatch, kind: str
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(cli, "console", cli.Console(width=80))
    code, out, _ = run(capsys, "catalog", kind)
    assert code == 0 and _widest(out) <= 80
    code, out, _ = run(capsys, "catalog", kind, "--wide")
    assert code == 0 and ("source" in out or kind == "frameworks")


def test_framework_catalog_lists_each_dated_change_with_its_source() -> None:
    from gigatrain.interfaces.render_catalog import catalog_records

    megatron = next(r for r in catalog_records("frameworks") if r["slug"] == "megatron")
    assert megatron["history"].startswith("before 2023: flash_attention=0 (NVIDIA/Megatron-LM")


def test_search_and_validate_tables_fit_80_columns(capsys, monkeypatch) -> None:
    from gigatrain.interfaces import cli_search

    monkeypatch.setattr(cli_search, "console", cli.Console(width=80))
    code, out, _ = run(
        capsys,
        "search",
        "-m",
        "llama-3.1-70b",
        "-c",
        "h100-sxm",
        "--chips",
        "1024",
        "--tokens",
        "2T",
        "--top",
        "3",
    )
    assert code == 0 and _widest(out) <= 80 and "Top 3 plans" in out
    monkeypatch.setattr(cli, "console", cli.Console(width=80))
    code, out, _ = run(capsys, "validate")
    assert code == 0 and _widest(out) <= 80 and "ultrascale_playbook" in out


def test_cost_help_keeps_option_names_whole_at_80_columns() -> None:
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    res = subprocess.run(
        [sys.executable, "-m", "gigatrain", "cost", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert res.returncode == 0
    for opt in ("--usd-per-chip-hour", "--interruptions-per-chip-day", "--global-batch"):
        assert opt in res.stdout, opt


@pytest.mark.parametrize(
    "exc, code, shown",
    [
        (
            __import__("gigatrain").GigatrainError(
                "install the web extra: pip install 'gigatrain[web]'"
            ),
            2,
            "pip install 'gigatrain[web]'",
        ),
        (RuntimeError("boom [/x] [bold]"), 1, "internal error: RuntimeError: boom [/x] [bold]"),
    ],
)
def test_error_handler_prints_messages_verbatim(
    capsys, monkeypatch, exc: Exception, code: int, shown: str
) -> None:
    import gigatrain.api

    def boom(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(gigatrain.api, "estimate_named", boom)
    got, _, err = run(capsys, "estimate", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--chips", "8")
    assert got == code and shown in err and "Traceback" not in err


def test_estimate_tables_fit_80_columns(capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "console", cli.Console(width=80))
    code, out, _ = run(
        capsys,
        "estimate",
        "-m",
        "llama-3.1-405b",
        "-c",
        "h100-sxm",
        "--chips",
        "16384",
        "--tp",
        "8",
        "--pp",
        "16",
        "--global-batch",
        "2048",
        "--seq",
        "8192",
        "--tokens",
        "15T",
    )
    assert code == 0 and _widest(out) <= 80 and "Memory per rank" in out


def test_fleet_sized_count_answers_in_search_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    """The chip count `fleet --power 2GW --chip trn2` sizes is accepted by search and cost."""
    code, out, err = run(capsys, "fleet", "--power", "2GW", "--chip", "trn2", "--json")
    assert code == 0, err
    n = json.loads(out)["chips"]
    code, out, err = run(
        capsys,
        "search",
        "--model",
        "megatron-gpt-1t",
        "--chip",
        "trn2",
        "--chips",
        str(n),
        "--tokens",
        "20T",
        "--json",
        "--top",
        "1",
    )
    assert code == 0, err
    res = json.loads(out)
    assert 0.75 * n <= res["top"][0]["chips"] <= n
    assert any(f"cannot feed {n:,} chips" in x or f"exactly {n:,} chips" in x for x in res["notes"])
    code, out, err = run(
        capsys,
        "cost",
        "--model",
        "megatron-gpt-1t",
        "--chip",
        "trn2",
        "--chips",
        str(n),
        "--tokens",
        "20T",
        "--json",
    )
    assert code == 0, err
    c = json.loads(out)
    assert 0.75 * n <= c["chips"] <= n and f"{n:,} requested" in c["assumptions"]["chips"]
