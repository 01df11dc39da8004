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


def _torch_settings():
    return (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )


@pytest.fixture
def caller_settings():
    """Settings unlike the ones training uses, restored after the test whatever happens."""
    saved = (_torch_settings(), torch.get_rng_state())
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(False)
    yield (2, False, False)
    (threads, strict, warn_only), rng = saved
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(strict, warn_only=warn_only)
    torch.set_rng_state(rng)


def test_deterministic_restores_the_callers_settings_and_random_stream(caller_settings):
    torch.manual_seed(123)
    expected = torch.rand(4)  # what the caller's stream gives next when nothing intervenes
    torch.manual_seed(123)
    with unet.deterministic(7, threads=1):
        assert _torch_settings() == (1, True, False)
        first = torch.rand(4)
    with unet.deterministic(7, threads=1):
        assert torch.equal(torch.rand(4), first)  # seeded: the same draws each time
    assert _torch_settings() == caller_settings
    assert torch.equal(torch.rand(4), expected)


def test_deterministic_restores_after_an_exception(caller_settings):
    with pytest.raises(RuntimeError, match="boom"), unet.deterministic(0, threads=1):
        raise RuntimeError("boom")
    assert _torch_settings() == caller_settings


def test_training_leaves_no_torch_setting_behind(caller_settings):
    rng = np.random.default_rng(0)
    img = rng.random((16, 16, 16)).astype(np.float32)
    label = img > 0.7
    config = unet.TrainConfig(pretrain_steps=0, finetune_steps=1, crop=16, channels=(4, 8))
    unet.train([(img, label, "spot")], config=config)
    assert _torch_settings() == caller_settings


def test_docstring_examples():
    import doctest

    result = doctest.testmod(unet)
    assert result.attempted > 0 and result.failed == 0
