"""What the organizer sends: a submission's tasks, an invoke submission's cases in batches."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from harness.containers.images import ImageInfo
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import run_identity
from harness.rounds.cluster import (
    SubmissionJob,
    batch_cases,
)
from harness.rounds.plan import Submission
from harness.split.synth import synthesize_split


def test_invoke_cases_go_in_one_batch_per_slot_of_at_most_ceil_n_over_slots_cases():
    # Worked by hand: 4 cases on 2 slots are 2 batches of 2; 5 on 2 are 3 + 2; 5 on 4 are
    # 2 + 2 + 1 (a 4th batch would not end sooner: some slot runs 2 cases either way).
    assert batch_cases(list("abcd"), 2) == [["a", "b"], ["c", "d"]]
    assert batch_cases(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    assert batch_cases(list("abcde"), 4) == [["a", "b"], ["c", "d"], ["e"]]
    assert batch_cases(list("abc"), 1) == [["a", "b", "c"]]
    assert batch_cases(list("ab"), 5) == [["a"], ["b"]]
    assert batch_cases([], 3) == []
    for n in range(0, 13):
        cases = list(range(n))
        for slots in range(1, 7):
            batches = batch_cases(cases, slots)
            # Every case once, in order; no more batches than slots; none empty; the longest
            # as short as any split over `slots` batches can make it.
            assert [c for b in batches for c in b] == cases
            assert len(batches) <= slots and all(batches)
            assert max(map(len, batches), default=0) == math.ceil(n / slots)
    with pytest.raises(ValueError, match="at least 1"):
        batch_cases(list("ab"), 0)


def test_a_submissions_tasks_carry_its_image_model_and_settings(tmp_path):
    split = synthesize_split(tmp_path / "split", cases=2, size=(8, 8, 8), seed=0, progress=False)
    image = ImageInfo("team-a/seg:1", "sha256:" + "a" * 64, "1000", "invoke")
    model = {"source": "/models/a.tar.gz", "sha256": "sha256:m", "size_bytes": 3}
    base = RunConfig(limits=Limits(timeout_s=9), relay_image="sha256:" + "r" * 64)
    submission = Submission(
        team="team-a",
        submission="late",
        source="team-a/seg:1",
        image=image,
        run_dir=tmp_path / "runs" / "team-a" / "late",
        identity=run_identity(image, split, base, model),
        limits=base.limits,
        model=model,
    )
    job = SubmissionJob(submission, tarball=tmp_path / "a.tar", relay_tarball=tmp_path / "r.tar")
    assert (job.key, job.image_ref, job.run_dir) == (
        "team-a/late",
        "team-a/seg:1",
        submission.run_dir,
    )
    assert job.invoke and job.identity is submission.identity
    batch = job.batch_task(split.cases, split, out_dir=tmp_path, base=base, gpus=0)
    assert batch.tasks_dir == tmp_path / "tasks" / "team-a" / "late"
    assert (batch.key, batch.image_ref, batch.image_digest) == (
        "team-a/late",
        image.ref,
        image.digest,
    )
    assert (batch.tarball, batch.relay_tarball) == (tmp_path / "a.tar", tmp_path / "r.tar")
    assert (batch.split_root, batch.split_hash) == (split.root, split.content_hash)
    # The round's settings with this submission's model, mounted from its source.
    assert batch.run_config == replace(base, model="/models/a.tar.gz")
    case = job.case_task(split.cases[1], split, out_dir=tmp_path, base=base, gpus=1)
    assert case.task_root == tmp_path / "tasks" / "team-a" / "late" / split.cases[1].case_id
    assert case.gpus_needed == 1 and case.run_config == batch.run_config
