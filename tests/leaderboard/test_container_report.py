"""The report's section on the evaluation container renders the run records it is given."""

from leaderboard.container_report import container_section
from leaderboard.public import public_metadata

VALUES = [
    {"path": "aggregates.con_dice_mean", "metric": "dice", "track": "vessel", "statistic": "mean",
     "case": "", "container": 0.61, "selma3d": 0.6, "differs": True},
    {"path": "aggregates.con_cldice_mean", "metric": "cldice", "track": "vessel",
     "statistic": "mean", "case": "", "container": 0.5, "selma3d": 0.5, "differs": False},
    {"path": "results[0].dice", "metric": "dice", "track": "vessel", "statistic": "",
     "case": "v1", "container": 0.5, "selma3d": 0.5, "differs": False},
]
COMPARISON = {
    "form": "selma3d-2026", "compared": 3, "differences": [VALUES[0]], "values": VALUES,
    "notes": ["metrics.json: 1 value(s) not finite, kept as no value: results[1].cldice (NaN)"],
    "tolerance": 1e-9,
}


def test_the_section_names_every_difference_the_form_the_notes_and_a_failure():
    # The section is rendered from the public record: paths and notes quote the container's
    # metrics.json, a reason and a log tail its output; none of them reach a participant.
    body = container_section(
        public_metadata({"evaluation_container": {
            "a": {"status": "ok", "comparison": COMPARISON, "wall_time_s": 0.8,
                  "peak_memory_bytes": 200 << 20, "image_digest": "sha256:abc"},
            "b": {"status": "failed", "reason": "exited with code 3; log tail:\n<boom>",
                  "log_tail": "<boom>"},
        }}),
        {"a": "Team A", "b": "Team B"},
    )
    assert "1 difference(s) in 3" in body and "200 MiB" in body
    assert "<li>dice, vessel, mean: container 0.61 vs selma3d 0.6</li>" in body
    assert "selma3d-2026 form" in body
    assert "Team A: 1 note(s)" in body
    assert "the evaluation container failed" in body
    for private in ("boom", "exited with code 3", "aggregates.con_dice_mean", "results[1]"):
        assert private not in body
    assert container_section({}, {}) is None
