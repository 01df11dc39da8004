"""The container stage through a real `dask scheduler` and `selma3d worker` processes.

The same round locally and through the cluster gives the same table, a worker SIGKILLed
mid-round loses no case and records none twice, losing the scheduler exits 3 and the rerun
resumes, and an invoke image's cases run in batches with one server each, a worker killed
mid-batch losing none."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from distributed import Client

from harness.containers.engine import engine_client
from harness.containers.images import build_folder
from harness.containers.isolation import LABEL_OUT_DIR
from harness.rounds.cluster import (
    save_image_tarball,
)
from harness.scoring.evaluate import evaluate_predictions, write_results
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume
from tests.harness.rounds.cluster.support import (
    MISBEHAVING,
    REPO,
    TIMING,
    cluster,
    finish,
    model_tarball,
    real_split,
    seed_images,
    selma3d,
    stop,
    task_containers,
    write_round,
)


@pytest.mark.docker
@pytest.mark.slow
def test_a_round_through_two_workers_gives_the_local_table(tmp_path, split, images):
    teams = {"template": images["template"], "crashing": images["exit-3"]}
    local = write_round(tmp_path / "local.yaml", split.root, tmp_path / "local", teams)
    code, out = finish(selma3d("round", str(local), start_new_session=True))
    assert code == 0, out
    assert "local cluster" in out

    spread = write_round(tmp_path / "spread.yaml", split.root, tmp_path / "spread", teams)
    with cluster(tmp_path / "cluster-1") as running:
        proc = selma3d("round", str(spread), "--scheduler", running.address, start_new_session=True)
        code, out = finish(proc)
    assert code == 0, out
    assert f"scheduler {running.address}" in out
    # Progress names the worker of every case; both took some of the six.
    per_worker = out.split("cases per worker:")[1].splitlines()[0]
    assert "w1" in per_worker and "w2" in per_worker, out

    a = pd.read_csv(tmp_path / "local" / "results.csv").drop(columns=TIMING)
    b = pd.read_csv(tmp_path / "spread" / "results.csv").drop(columns=TIMING)
    assert len(a) == 2 * 3
    assert set(a.loc[a["team"] == "crashing", "status"]) == {"failed"}
    assert set(a.loc[a["team"] == "template", "status"]) == {"ok"}
    pd.testing.assert_frame_equal(a, b)

    def board(folder: str) -> pd.DataFrame:
        table = pd.read_csv(tmp_path / folder / "leaderboard" / "leaderboard.csv")
        return table[[c for c in table.columns if "time" not in c and "memory" not in c]]

    pd.testing.assert_frame_equal(board("local"), board("spread"))
    # The round kept each image as a tarball named by its digest, and no attempt folder.
    record = json.loads((tmp_path / "spread" / "round.json").read_text())
    for sub in record["submissions"]:
        tarball = tmp_path / "spread" / "images" / (sub["digest"].split(":")[1] + ".tar")
        assert tarball.is_file()
    assert not list((tmp_path / "spread" / "tasks").rglob("*.jsonl"))

    # The scores equal an evaluation of the round's folders in one process.
    direct = evaluate_predictions(
        split, {t: tmp_path / "spread" / "runs" / t / "s00" for t in teams}, progress=False
    )
    write_results(direct, tmp_path / "direct.csv")
    direct = pd.read_csv(tmp_path / "direct.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(b.drop(columns=["submission", "display_name", "tags"]), direct)

    # A rerun asks the cluster for nothing: every case and score is recorded.
    code, out = finish(selma3d("round", str(local), start_new_session=True))
    assert code == 0, out
    assert out.count("3 recorded, 0 to run") == 2
    assert "3 case(s) scored before, 0 to score" in out


@pytest.mark.docker
@pytest.mark.slow
def test_a_worker_killed_mid_round_loses_no_case_and_records_none_twice(tmp_path, images, tarballs):
    root = tmp_path / "split"
    synthesize_split(root, cases=6, size=(24, 24, 24), seed=7)
    out = tmp_path / "out"
    seed_images(out, tarballs)
    config = write_round(tmp_path / "r.yaml", root, out, {"slow": images["slow"]})
    with cluster(tmp_path / "cluster-2") as running, Client(running.address, timeout=30) as client:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # w1 runs a container now: killing w1 leaves that container behind.
            workers = client.scheduler_info(n_workers=-1)["workers"]
            w1 = next(a for a, w in workers.items() if w["name"] == "w1")
            keys = " ".join(str(k) for k in client.processing().get(w1, ()))
            cases = [c.labels[LABEL_OUT_DIR].split("/")[-2] for c in task_containers(out)]
            if any(f"-{case}-" in keys for case in cases):
                break
            time.sleep(0.2)
        else:
            pytest.fail("w1 ran no container within 120 s")
        running.kill("w1")
        code, out = finish(proc)
    assert code == 0, out

    lines = (tmp_path / "out" / "runs" / "slow" / "s00" / "cases.jsonl").read_text().splitlines()
    cases = [json.loads(line)["case_id"] for line in lines]
    assert sorted(cases) == sorted(p.name.split(".")[0] for p in (root / "images").iterdir())
    assert {json.loads(line)["status"] for line in lines} == {"ok"}
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(results) == 6 and set(results["status"]) == {"ok"}
    # The killed worker's container was removed (by label) before its case ran again.
    assert "removed 1 leftover container(s)" in out, out
    assert task_containers(tmp_path / "out") == []
    assert not any((tmp_path / "out" / "tasks").rglob("run.json"))


@pytest.mark.docker
@pytest.mark.slow
def test_losing_the_scheduler_exits_3_and_the_rerun_resumes(tmp_path, images, tarballs):
    root = tmp_path / "split"
    synthesize_split(root, cases=4, size=(24, 24, 24), seed=9)
    out = tmp_path / "out"
    seed_images(out, tarballs)
    config = write_round(tmp_path / "r.yaml", root, out, {"slow": images["slow"]})
    records = out / "runs" / "slow" / "s00" / "cases.jsonl"
    with cluster(tmp_path / "cluster-3") as running:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (records.is_file() and records.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                pytest.fail("no case was recorded within 120 s")
            time.sleep(0.2)
        running.kill("scheduler")
        code, output = finish(proc)
    assert code == 3, output
    said = " ".join(output.split())
    assert "lost the Dask scheduler" in said and "rerun the same command to resume" in said
    before = {json.loads(line)["case_id"] for line in records.read_text().splitlines()}
    assert 1 <= len(before) < 4

    with cluster(tmp_path / "cluster-4") as running:
        code, output = finish(
            selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        )
    assert code == 0, output
    assert f"{len(before)} recorded, {4 - len(before)} to run" in output
    lines = records.read_text().splitlines()
    assert sorted(json.loads(line)["case_id"] for line in lines) == sorted(
        p.name.split(".")[0] for p in (root / "images").iterdir()
    )
    assert task_containers(out) == []


@pytest.mark.docker
def test_a_local_round_starts_one_invoke_server_per_slot_not_per_case(tmp_path):
    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    assert image.invoke
    root = real_split(tmp_path / "split", 4)
    # Loading the "model" takes 2 s: paid once per server, and so once per batch.
    model = model_tarball(tmp_path / "model.tar.gz", {"load_s": 2})
    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "invoke",
                "output": str(tmp_path / "round"),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2},
                "canary": False,
                "teams": [{"name": "inv", "image": image.ref, "model": str(model)}],
            }
        )
    )
    code, out = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, out

    run_dir = tmp_path / "round" / "runs" / "inv" / "s00"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["api_method"] == "invoke"
    # Two slots, four cases: two batches of two, so two start-ups (not four), each >= 2 s.
    servers = meta["servers"]
    assert [s["server"] for s in servers] == [1, 2], servers
    assert all(s["healthy"] and s["startup_s"] >= 2.0 and s["cases"] == 2 for s in servers)
    records = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    assert sorted(r["server"] for r in records) == [1, 1, 2, 2]
    startups = {s["server"]: s["startup_s"] for s in servers}
    assert all(r["startup_s"] == startups[r["server"]] for r in records)
    assert out.count("inv/s00: invoke server") == 2, out
    assert all(f"inv/s00 {r['case_id']}: ok" in out for r in records), out
    # Each batch's attempt folder was removed once its cases were recorded.
    assert not list((tmp_path / "round" / "tasks").rglob("*.jsonl"))

    # `selma3d predict` of the same image and model gives the same masks and the same scores.
    predicted = tmp_path / "predict"
    argv = [
        *(sys.executable, "-m", "harness", "predict", image.ref, "--split", str(root)),
        *("--out", str(predicted), "--jobs", "2", "--memory", "512m", "--cpus", "1"),
        *("--model", str(model), "--no-progress"),
    ]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for record in records:
        name = f"{record['case_id']}.nii.gz"
        mask = read_volume(run_dir / "predictions" / name).array
        assert mask.any()
        np.testing.assert_array_equal(mask, read_volume(predicted / "predictions" / name).array)
    direct = evaluate_predictions(load_split(root), {"inv": predicted}, progress=False)
    write_results(direct, tmp_path / "direct.csv")
    direct = pd.read_csv(tmp_path / "direct.csv").drop(columns=TIMING)
    table = pd.read_csv(tmp_path / "round" / "results.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(
        table.drop(columns=["submission", "display_name", "tags"]), direct
    )


@pytest.mark.docker
@pytest.mark.slow
def test_a_worker_killed_mid_batch_reruns_the_batch_elsewhere_and_records_each_case_once(
    tmp_path,
):
    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    root = real_split(tmp_path / "split", 4)
    model = model_tarball(tmp_path / "model.tar.gz", {"load_s": 3})
    out = tmp_path / "out"
    with engine_client() as client:
        save_image_tarball(client, image.ref, image.digest, out / "images")
    config = tmp_path / "r.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "ctest",
                "output": str(out),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2},
                "canary": False,
                "teams": [{"name": "inv", "image": image.ref, "model": str(model)}],
            }
        )
    )
    with cluster(tmp_path / "cluster-5") as running, Client(running.address, timeout=30) as client:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # w1 runs a batch and its server container exists: killing w1 leaves it behind.
            workers = client.scheduler_info(n_workers=-1)["workers"]
            w1 = next(a for a, w in workers.items() if w["name"] == "w1")
            keys = [str(k) for k in client.processing().get(w1, ())]
            firsts = {c.labels[LABEL_OUT_DIR].split("/")[-2] for c in task_containers(out)}
            if any(k.startswith("batch-") and f"-{case}+" in k for k in keys for case in firsts):
                break
            time.sleep(0.2)
        else:
            pytest.fail("w1 ran no batch within 120 s")
        running.kill("w1")
        code, output = finish(proc)
    assert code == 0, output

    run_dir = out / "runs" / "inv" / "s00"
    lines = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert sorted(r["case_id"] for r in lines) == sorted(load_split(root).case_ids)
    assert {r["status"] for r in lines} == {"ok"}
    # Only finished batches are recorded: w1's lost server is not; the rerun's is.
    servers = json.loads((run_dir / "run.json").read_text())["servers"]
    assert [s["server"] for s in servers] == [1, 2] and {s["worker"] for s in servers} == {"w2"}
    assert sorted(r["server"] for r in lines) == [1, 1, 2, 2]
    # The killed worker's containers were removed (by label) before its batch ran again.
    assert "leftover container(s)" in " ".join(output.split()), output
    assert task_containers(out) == []


@pytest.mark.docker
def test_a_rounds_canary_holds_a_broken_submissions_other_cases_and_no_one_elses(
    tmp_path, split, images
):
    teams = {"broken": images["exit-3"], "fine": images["template"]}
    config = write_round(tmp_path / "round.yaml", split.root, tmp_path / "round", teams)
    config.write_text(config.read_text().replace("canary: false", "canary: true"))
    code, out = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, out
    canary, *held = split.case_ids
    assert (
        f"broken/s00: the canary case {canary} is failed; its other {len(held)} case(s) are "
        "not run" in out.replace("\n", " ")
    ), out
    runs = tmp_path / "round" / "runs"
    broken = json.loads((runs / "broken" / "s00" / "run.json").read_text())
    fine = json.loads((runs / "fine" / "s00" / "run.json").read_text())
    assert broken["state"] == "stopped_by_canary" and fine["state"] == "finished"
    lines = (runs / "broken" / "s00" / "cases.jsonl").read_text().splitlines()
    assert [json.loads(line)["case_id"] for line in lines] == [canary]  # the rest never ran
    assert {k: n for k, n in fine["counts"].items() if n} == {"ok": len(split.case_ids)}
