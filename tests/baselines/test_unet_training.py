"""The training command is deterministic for a seed (tiny configuration, through the CLI)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from baselines import unet
from harness.cli import cli
from harness.split.synth import synthesize_split

pytestmark = pytest.mark.deep

TINY = ["--pretrain-steps", "2", "--finetune-steps", "2", "--crop", "16", "--channels", "4,8"]


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthesize_split(root / "split", cases=2, size=(16, 16, 16), seed=5)
    return root / "split"


def _train(split, out, *extra):
    result = CliRunner().invoke(
        cli,
        ["baselines", "train", "--data", str(split), *TINY, *extra, "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def runs(tiny_split, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    pre = ("--seed", "7", "--unlabeled", str(tiny_split))
    return {
        "a": (_train(tiny_split, out / "a.pt", *pre), out / "a.pt"),
        "b": (_train(tiny_split, out / "b.pt", *pre), out / "b.pt"),
        "scratch": (_train(tiny_split, out / "s.pt", "--seed", "7", "--no-pretrain"), out / "s.pt"),
    }


def test_two_runs_with_one_seed_give_identical_weights(runs):
    (a, pa), (b, pb) = runs["a"], runs["b"]
    assert a["weights_digest"] == b["weights_digest"]
    sa, sb = unet.load_model(pa)[0].state_dict(), unet.load_model(pb)[0].state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    # pretraining changes the weights: the comparison model is really a different model
    assert runs["scratch"][0]["weights_digest"] != a["weights_digest"]


def test_provenance_records_command_data_and_versions(runs):
    doc, path = runs["scratch"]
    assert doc["config"]["pretrain_steps"] == 0 and doc["unlabeled_volumes"] == 0
    assert "--no-pretrain" in doc["command"] and "--seed 7" in doc["command"]
    assert doc["data"][0]["content_hash"].startswith("sha256:")
    assert doc["versions"]["torch"].startswith("2.13.0")
    model, config = unet.load_model(path)
    assert config.channels == (4, 8)
    assert unet.weights_digest(model) == doc["weights_digest"]
    pre = runs["a"][0]
    assert pre["config"]["pretrain_steps"] == 2 and pre["unlabeled_volumes"] == 4


def test_train_rejects_bad_inputs():
    img = np.zeros((16, 16, 16), np.float32)
    with pytest.raises(ValueError, match="track"):
        unet.train(
            [(img, img, "tubes")],
            [img],
            config=unet.TrainConfig(pretrain_steps=1, finetune_steps=1),
        )
    with pytest.raises(ValueError, match="unlabeled"):
        unet.train(
            [(img, img, "spot")], [], config=unet.TrainConfig(pretrain_steps=1, finetune_steps=1)
        )
    with pytest.raises(ValueError, match="crop"):
        unet.TrainConfig(crop=20)
