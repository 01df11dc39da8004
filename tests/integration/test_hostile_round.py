"""A round of mutually hostile teams and a chatty evaluation container, through the CLI.

Two honest teams (the threshold baseline and a "bright voxels" team) share a real round with
three attackers: an invoke server whose threads keep churning ``/output`` after each answer
(folders closed with mode 000 among them), a team whose container prints fake selma3d log
lines, host-path-looking text, HTML and a MiB of output, and a team that crashes with a
traceback naming the organizer's machine. The organizers' evaluation container prints every
hidden ground-truth file name and paths to its log.

Asserted: the round exits 0; each honest team's per-case results (statuses, every metric, the
evaluation container's values) are exactly those of the same round without the attackers; every
attacker has a status per case; the organizer's round.json keeps the evaluation log; and no file
under ``leaderboard/`` or ``leaderboards/`` holds a log line, a path of this machine, a
temporary folder or a ground-truth file name.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from harness.assets import asset_dir
from harness.containers.base_images import build_specs
from harness.containers.images import build_folder
from harness.evaluation import write_ground_truth
from harness.evaluation.contract import image_names
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split
from tests.integration.evaluation_support import (
    BRIGHT_PREDICT,
    TEAM_DOCKERFILE,
    evaluation_round,
    run_round,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MISBEHAVING = Path(__file__).resolve().parent / "misbehaving"
THRESHOLD = asset_dir("submissions") / "baseline-threshold"
TEMPLATE_EVALUATION = asset_dir("submissions") / "template-evaluation"
TAG = "selma3d-test-hostile-round"
HONEST = ("threshold", "bright")
ATTACKERS = ("churner", "liar", "crasher")

# Text the attackers and the evaluation container print: none of it may be published.
MARKERS = (
    "FAKE-SELMA3D-LINE",
    "CHATTY-EVALUATOR",
    "/home/organizer",
    "/srv/organizer",
    "<script>",
    "Traceback (most recent call last)",
    "/opt/ml/input/data/ground_truth",
)

# The bright team's mask, and a log made to be mistaken for selma3d's and the organizer's.
LIAR_PREDICT = (
    BRIGHT_PREDICT
    + """
print("# selma3d case vessel_000: ok - FAKE-SELMA3D-LINE", flush=True)
print("# invoke server 1: started in 0.01 s; /home/organizer/round/out/runs/threshold", flush=True)
print("<script>alert('FAKE-SELMA3D-LINE')</script>", flush=True)
print("/tmp/selma3d-evaluation-deadbeef/cache/ground-truth/task1_gt/secret.nii.gz", flush=True)
for i in range(16384):
    print(f"FAKE-SELMA3D-LINE {i:06d} " + "x" * 48)
"""
)

CRASHER = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home app
USER app
ENTRYPOINT ["python3", "-c", "import sys; print('Traceback (most recent call last):'); \
print('  File \\"/srv/organizer/secret/model.py\\", line 1'); \
print('FileNotFoundError: /home/organizer/weights.pt FAKE-SELMA3D-LINE [/red][bold]\\\\x1b[2J'); \
sys.exit(3)"]
"""

# Evaluates as the template does, after printing every hidden file it can see and paths.
CHATTY = """
import os, sys
sys.path.insert(0, "/opt/app")
for root, _dirs, files in os.walk("/opt/ml/input/data/ground_truth"):
    for name in sorted(files):
        print(f"CHATTY-EVALUATOR hidden: {os.path.join(root, name)}", flush=True)
print("CHATTY-EVALUATOR reading /home/organizer/secret/ground-truth.tar.gz", flush=True)
for name in sorted(os.listdir("/input")):
    print(f"CHATTY-EVALUATOR input: /input/{name}", flush=True)
import evaluate
sys.exit(evaluate.main())
"""


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory, engine_client) -> dict:
    client = engine_client
    root = tmp_path_factory.mktemp("hostile-round")
    split_root = root / "split"
    synthesize_split(split_root, cases=2, size=(32, 32, 32), seed=7)
    split = load_split(split_root)
    gt = write_ground_truth(split, root / "ground-truth.tar.gz")
    quiet = {"client": client, "log": lambda _: None}
    build_specs(only=("evaluation",), client=client, log=lambda _: None)
    template = build_folder(TEMPLATE_EVALUATION, f"{TAG}/template-evaluation:1", **quiet)
    chatty = root / "chatty"
    chatty.mkdir()
    (chatty / "chatty.py").write_text(CHATTY)
    (chatty / "Dockerfile").write_text(
        f"FROM {template.ref}\nCOPY chatty.py /opt/app/chatty.py\n"
        'ENTRYPOINT ["python3", "/opt/app/chatty.py"]\n'
    )
    evaluator = build_folder(chatty, f"{TAG}/chatty-evaluator:1", **quiet)
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    folders = {}
    for name, dockerfile, files in (
        ("bright", TEAM_DOCKERFILE, {"predict.py": BRIGHT_PREDICT}),
        ("liar", TEAM_DOCKERFILE, {"predict.py": LIAR_PREDICT}),
        ("crasher", CRASHER, {}),
    ):
        folder = root / name
        folder.mkdir()
        (folder / "Dockerfile").write_text(dockerfile)
        for file, text in files.items():
            (folder / file).write_text(text)
        folders[name] = folder
    churn_model = _tarball(root / "churn-model.tar.gz", {"behaviour.json": b'{"churn": true}'})
    return {
        "root": root,
        "split": split,
        "gt": gt,
        "evaluator": evaluator.ref,
        "folders": folders,
        "churn_model": churn_model,
    }


def _teams(setting: dict, *, attackers: bool) -> list[dict]:
    teams = [
        {"name": "threshold", "folder": str(THRESHOLD), "tags": {"open": True}},
        {"name": "bright", "folder": str(setting["folders"]["bright"]), "tags": {"open": True}},
    ]
    if attackers:
        teams += [
            {
                "name": "churner",
                "folder": str(MISBEHAVING / "invoke" / "server"),
                "model": str(setting["churn_model"]),
                "tags": {"open": True},
            },
            {"name": "liar", "folder": str(setting["folders"]["liar"]), "tags": {"open": True}},
            {
                "name": "crasher",
                "folder": str(setting["folders"]["crasher"]),
                "tags": {"open": False},
            },
        ]
    return teams


def _round(setting: dict, out: Path, *, attackers: bool) -> tuple[int, str]:
    config = evaluation_round(
        "hostile",
        out,
        setting["split"].root,
        _teams(setting, attackers=attackers),
        {"image": setting["evaluator"], "ground_truth": str(setting["gt"])},
        leaderboards=[{"name": "open", "where": {"open": True}}],
    )
    proc = run_round(config, out.with_suffix(".yaml"), timeout=1500)
    return proc.returncode, proc.stdout[-4000:] + proc.stderr[-4000:]


@pytest.fixture(scope="module")
def rounds(setting: dict) -> dict:
    root = setting["root"]
    code_plain, log_plain = _round(setting, root / "plain", attackers=False)
    assert code_plain == 0, log_plain
    code, log = _round(setting, root / "hostile", attackers=True)
    return {"plain": root / "plain", "hostile": root / "hostile", "code": code, "log": log}


# Columns that describe a run, not its result.
_RUN_COLUMNS = {"wall_time_s", "peak_memory_bytes", "run_id", "prediction", "log"}


def _honest(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "results.csv")
    table = table[table["team"].isin(HONEST)]
    keep = [c for c in table.columns if c not in _RUN_COLUMNS]
    table = table[keep].sort_values(["team", "case_id"]).reset_index(drop=True)
    # A text column's type follows the other teams' values (all empty: read as numbers).
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    text += [c for c in ("message",) if c in table.columns]
    return table.astype({c: object for c in text}).fillna({c: "" for c in text})


def test_the_round_with_attackers_exits_normally_and_ranks_every_team(rounds):
    assert rounds["code"] == 0, rounds["log"]
    board = pd.read_csv(rounds["hostile"] / "leaderboard" / "leaderboard.csv")
    assert sorted(board["team"]) == sorted(HONEST + ATTACKERS)
    results = pd.read_csv(rounds["hostile"] / "results.csv")
    statuses = results.groupby("team")["status"].apply(set).to_dict()
    assert statuses["crasher"] == {"failed"}
    assert statuses["churner"] <= {"ok", "invalid_output"}, statuses
    assert statuses["liar"] == {"ok"}, statuses


def test_honest_teams_get_exactly_the_results_of_a_round_without_attackers(rounds):
    plain, hostile = _honest(rounds["plain"]), _honest(rounds["hostile"])
    assert set(plain["status"]) == {"ok"}
    assert any(c.startswith("container_") for c in plain.columns)
    pd.testing.assert_frame_equal(plain, hostile)
    # The evaluation container's own records agree too.
    for team in HONEST:
        runs = [
            json.loads((o / "round.json").read_text())["evaluation"][f"{team}/s00"]
            for o in (rounds["plain"], rounds["hostile"])
        ]
        assert runs[0]["status"] == runs[1]["status"] == "ok"
        assert runs[0]["comparison"] == runs[1]["comparison"]


def test_the_organizer_keeps_the_evaluation_log_and_nothing_published_holds_a_log_or_a_path(
    rounds, setting
):
    hostile = rounds["hostile"]
    # The chatty evaluator did print the hidden names: the organizer's record keeps them.
    record = json.loads((hostile / "round.json").read_text())
    assert "CHATTY-EVALUATOR" in Path(record["evaluation"]["threshold/s00"]["log_file"]).read_text()
    hidden = sorted(image_names(setting["split"]).values())
    logs = "".join(p.read_text() for p in (hostile / "evaluation").rglob("container.log"))
    assert all(name in logs for name in hidden)

    forbidden = [
        *MARKERS,
        *hidden,
        str(setting["root"]),
        str(REPO),
        str(Path(tempfile.gettempdir()) / "selma3d"),
        "/tmp/pytest-of",
        "log tail",
        "container.log",
        "ground-truth.tar.gz",
    ]
    published = [
        p
        for folder in ("leaderboard", "leaderboards")
        for p in sorted((hostile / folder).rglob("*"))
        if p.is_file()
    ]
    assert {p.name for p in published} >= {
        "leaderboard.json",
        "index.html",
        "leaderboard.md",
        "leaderboard.csv",
    }
    assert any("leaderboards" in p.parts for p in published)
    found = []
    for path in published:
        text = path.read_bytes().decode("latin-1")
        found += [(str(path.relative_to(hostile)), word) for word in forbidden if word in text]
    assert found == []
    # What is published about the evaluation container: status, fixed text, numbers, digests.
    board = json.loads((hostile / "leaderboard" / "leaderboard.json").read_text())
    runs = board["metadata"]["evaluation_container"]
    assert runs["threshold"]["status"] == "ok" and runs["threshold"]["comparison"]["values"]
    assert runs["crasher"]["status"] == "not_run"


def test_check_of_a_crasher_prints_its_logs_markup_as_text(setting, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "check", str(setting["folders"]["crasher"]),
         "--split", str(setting["split"].root), "--timeout-s", "60", "--memory", "1g",
         "--cpus", "1", "--out", str(tmp_path / "check"), "--no-progress"],
        capture_output=True, text=True, check=False, timeout=900,
        env={**os.environ, "COLUMNS": "400"},
    )
    output = proc.stdout + proc.stderr
    # The verdict, not a crash of the console reading "[/red]" as its own closing tag.
    assert proc.returncode == 1, output[-3000:]
    # (The crasher's own log holds a traceback's first line: selma3d's would name its error.)
    assert "MarkupError" not in output and "internal error of selma3d" not in output
    # Its escape sequence (clear the screen) is shown, never sent to the terminal.
    assert "weights.pt FAKE-SELMA3D-LINE [/red][bold]\\x1b[2J" in output
    assert "\x1b[2J" not in output


def test_check_of_a_server_churning_output_ends_with_a_verdict_not_a_crash(setting, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "check",
            str(MISBEHAVING / "invoke" / "server"),
            "--split",
            str(setting["split"].root),
            "--model",
            str(setting["churn_model"]),
            "--reuse",
            "batch",
            "--timeout-s",
            "60",
            "--memory",
            "1g",
            "--cpus",
            "1",
            "--out",
            str(tmp_path / "check"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    cases = [
        json.loads(line) for line in (tmp_path / "check" / "cases.jsonl").read_text().splitlines()
    ]
    assert {c["status"] for c in cases} <= {"ok", "invalid_output"}
    assert len({c["case_id"] for c in cases}) == len(setting["split"].cases)
