"""Client projects written for the seed engine (tests/seed_projects/) run unmodified
through their own train scripts: train, SIGKILL + --resume (bitwise equal to an
uninterrupted run), 2 processes, and reach their quality measured here, outside the
engine, from the weights they saved."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT

PROJECTS = os.path.join(ROOT, "tests", "seed_projects")
SEG = os.path.join(PROJECTS, "seg_project")
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg_data")
    subprocess.run([sys.executable, os.path.join(SEG, "make_data.py"), str(root), "128", "32"], check=True)
    return str(root)


def seg_command(data, out, *extra):
    return [sys.executable, os.path.join(SEG, "train.py"), "--config-file", os.path.join(SEG, "configs", "seg.py"),
            "dataloader.train_data_set.root", data, "dataloader.val_data_set.root", data,
            "output_dir", str(out), "trainer.progress_bar", "False", *extra]


def run(command, cwd, timeout=240):
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def weights(run_dir, name="model_final.pth"):
    return torch.load(os.path.join(run_dir, "checkpoints", name), map_location="cpu", weights_only=False)["model"]["g_model"]


def miou_outside_the_engine(state, data):
    """Binary mIoU of the saved network on the validation list, computed here."""
    sys.path.insert(0, PROJECTS)
    from seg_project.network import EncoderDecoder

    net = EncoderDecoder(encoder=dict(in_channels=3, channels=[16, 32, 32], norm_cfg=dict(type='BN')),
                         decoder=dict(in_channels=[16, 32, 32], norm_cfg=dict(type='BN'),
                                      loss_cfg=dict(seg_loss=[dict(name='GeneralizedCELoss', input_name=['input', 'target'])])),
                         num_classes=2)
    net.load_state_dict(state)
    net.eval()
    mean = np.array([123.675, 116.28, 103.53])  # the configs' Normalize (the seed's: pixel units)
    std = np.array([58.395, 57.12, 57.375])
    inter, union = np.zeros(2), np.zeros(2)
    for line in open(os.path.join(data, "val.txt")).read().split():
        img_path, mask_path = line.split(",")
        img = cv2.cvtColor(cv2.imread(os.path.join(data, img_path)), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(os.path.join(data, mask_path), cv2.IMREAD_GRAYSCALE)
        x = torch.from_numpy(((img - mean) / std).transpose(2, 0, 1)).float()[None]
        with torch.no_grad():
            pred = net(x).argmax(1)[0].numpy()
        for c in range(2):
            inter[c] += np.logical_and(pred == c, gt == c).sum()
            union[c] += np.logical_or(pred == c, gt == c).sum()
    return float(np.mean(inter / union))


@pytest.fixture(scope="module")
def seg_run(seg_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg_out")
    done = run(seg_command(seg_data, out), cwd=str(out))
    return out, done


def test_seed_segmentation_project_trains_unmodified_and_reaches_its_quality(seg_run, seg_data):
    out, done = seg_run
    run_dir = out / "seg"
    # the project's own evaluation in iterate_after(epoch): epoch is the iteration index
    evaluated = [int(line.split()[0]) for line in (out / "evaluations.txt").read_text().splitlines()]
    assert evaluated == [0, 20, 40, 59]
    # its logger (logging.getLogger(cfg.OUTPUT_LOG_NAME)) lands in the run's log.txt
    assert (run_dir / "log.txt").read_text().count(" miou ") == 4
    # after_loop drew pictures through self.test_data_loader.dataset.to_lines(...)
    assert len(os.listdir(out / "pictures")) == 16
    # run_step's dict(loss=..., acc=float): acc is logged
    assert '"acc"' in (run_dir / "metrics.jsonl").read_text()
    assert miou_outside_the_engine(weights(run_dir), seg_data) > 0.8


def export_seed_network(run_dir, onnx_path, cwd):
    """engine-export --verify of a seed project's checkpoint, as a user would call it."""
    env = dict(ENV, PYTHONPATH=os.pathsep.join([PROJECTS, ENV.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "engine.tools.export", "--config-file", str(run_dir / "config.yaml"),
                           "--weights", str(run_dir / "checkpoints" / "model_final.pth"), "--output", str(onnx_path),
                           "--input-shape", "1", "3", "64", "64", "--verify", "--import", "seg_project"],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_seed_segmentation_project_exports_its_network_and_verifies(seg_run, tmp_path):
    # SegModel.generator(data) reads data['img'] from the test loader's dict: the export
    # takes the network itself on an image tensor, as the seed's tool/export.py did
    out, _ = seg_run
    printed = export_seed_network(out / "seg", tmp_path / "seg.onnx", tmp_path)
    assert "SegModel.generator takes the seed's batch dict, not tensors" in printed
    assert "exporting the network g_model itself" in printed
    assert "verify: output @ batch 7 (shape [7, 2, 64, 64])" in printed
    assert (tmp_path / "seg.onnx").stat().st_size > 10_000


def test_seed_segmentation_project_resumes_bitwise_after_sigkill(seg_run, seg_data, tmp_path):
    out = tmp_path / "killed"
    command = seg_command(seg_data, out)
    child = subprocess.Popen(command, cwd=str(tmp_path), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "seg" / "checkpoints" / "model_0000020.pth"
    deadline = time.time() + 180
    while not first.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert first.exists() and not (out / "seg" / "checkpoints" / "model_final.pth").exists()
    run(command + ["--resume"], cwd=str(tmp_path))
    resumed, uninterrupted = weights(out / "seg"), weights(seg_run[0] / "seg")
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        assert torch.equal(resumed[key], uninterrupted[key]), key


def test_seed_segmentation_project_trains_on_two_processes(seg_data, tmp_path):
    run(seg_command(seg_data, tmp_path, "--num-gpus", "2", "trainer.device", "cpu", "solver.max_iter", "20"),
        cwd=str(tmp_path))
    evaluated = [int(line.split()[0]) for line in (tmp_path / "evaluations.txt").read_text().splitlines()]
    assert evaluated == [0, 19]  # written by the main process only
    assert "processes: 2" in (tmp_path / "seg" / "log.txt").read_text()


def seg_losses(out):
    lines = (out / "seg" / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["type"] == "train"]


SHORT = ["solver.max_iter", "10", "solver.eval_period", "0", "trainer.log_period", "1", "dataloader.num_workers", "0"]


def test_seed_segmentation_project_trains_sharded_through_its_forward_train(seg_data, tmp_path):
    # SegModel calls self.g_model.forward_train(img, gt) on the sharded network (its class
    # swapped by fully_shard): routed through the network's call, the weights are gathered
    run(seg_command(seg_data, tmp_path / "plain", *SHORT), cwd=str(tmp_path))
    run(seg_command(seg_data, tmp_path / "fsdp", *SHORT, "trainer.fsdp.enabled", "True"), cwd=str(tmp_path))
    assert "fully sharded over 1 process(es): g_model" in (tmp_path / "fsdp" / "seg" / "log.txt").read_text()
    plain, sharded = seg_losses(tmp_path / "plain"), seg_losses(tmp_path / "fsdp")
    assert len(plain) == 10 and plain == sharded  # a group of one: bit for bit


@pytest.mark.slow  # ~50 s, most of it inductor compiling the network
def test_seed_segmentation_project_trains_compiled_through_its_forward_train(seg_data, tmp_path):
    # SegModel calls self.g_model.forward_train(img, gt): the compiled call must run it
    short = SHORT[:1] + ["20"] + SHORT[2:]
    run(seg_command(seg_data, tmp_path / "eager", *short), cwd=str(tmp_path))
    run(seg_command(seg_data, tmp_path / "compiled", *short, "trainer.compile", "True"), cwd=str(tmp_path))
    eager, compiled = seg_losses(tmp_path / "eager"), seg_losses(tmp_path / "compiled")
    assert len(eager) == len(compiled) == 20
    # inductor's fused kernels round differently (3.6e-7 at step 1); the project's
    # BatchNorm, Dice loss and fast warmup grow it to 1.1e-4 at most (eager on two threads
    # against one: 8.7e-5); 8e-4 when inductor chose the convolutions' layout itself
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 4e-4
    log = (tmp_path / "compiled" / "seg" / "log.txt").read_text()
    assert "g_model: compiled in place" in log
    # before forward_train was routed through the compiled call, the curves were bitwise equal
    assert any(a != b for a, b in zip(eager, compiled))
    compiled_weights = weights(tmp_path / "compiled" / "seg")
    assert list(compiled_weights) == list(weights(tmp_path / "eager" / "seg"))  # no _orig_mod. keys
    assert "verify: output @ batch 1" in export_seed_network(tmp_path / "compiled" / "seg", tmp_path / "c.onnx", tmp_path)


# --------------------------------------------------------------------------- GAN
GAN = os.path.join(PROJECTS, "gan_project")


def gan_command(out, *extra):
    return [sys.executable, os.path.join(GAN, "train.py"), "--config-file", os.path.join(GAN, "configs", "gan.py"),
            "output_dir", str(out), "trainer.progress_bar", "False", *extra]


def kill_at_checkpoint(command, cwd, checkpoint):
    child = subprocess.Popen(command, cwd=str(cwd), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not checkpoint.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert checkpoint.exists()


@pytest.mark.slow  # ~20 s; the seed GAN names in-process: test_seed_gan_names_answer_as_the_seeds
def test_seed_gan_project_trains_and_resumes_bitwise_after_sigkill(tmp_path):
    """BaseGanModel's seed names: dmodel_forward answering under 'default', a seed-form
    solver.discriminator (clip_gradients beside the optimizer)."""
    run(gan_command(tmp_path / "whole", "solver.max_iter", "200", "solver.checkpoint_period", "40"), cwd=tmp_path)
    killed = tmp_path / "killed"
    command = gan_command(killed, "solver.max_iter", "200", "solver.checkpoint_period", "40")
    kill_at_checkpoint(command, tmp_path, killed / "gan" / "checkpoints" / "model_0000040.pth")
    assert not (killed / "gan" / "checkpoints" / "model_final.pth").exists()  # killed mid-run
    run(command + ["--resume"], cwd=tmp_path)
    whole = torch.load(tmp_path / "whole" / "gan" / "checkpoints" / "model_final.pth", weights_only=False)["model"]
    resumed = torch.load(killed / "gan" / "checkpoints" / "model_final.pth", weights_only=False)["model"]
    for part in ("g_model", "d_models.d"):
        for key in whole[part]:
            assert torch.equal(whole[part][key], resumed[part][key]), (part, key)
    # the generator learnt the digits' mean image (measured here from its weights)
    sys.path.insert(0, PROJECTS)
    from gan_project.network import Generator
    from sklearn.datasets import load_digits

    real = torch.from_numpy(load_digits().images.astype("float32") / 8.0 - 1.0).mean(0)
    net = Generator(z_dim=16, hidden=64)
    torch.manual_seed(0)
    z = torch.randn(512, 16)
    with torch.no_grad():
        before = (net(z)[:, 0].mean(0) - real).abs().mean()
        net.load_state_dict(whole["g_model"])
        after = (net(z)[:, 0].mean(0) - real).abs().mean()
    assert after < 0.5 * before, (float(before), float(after))


# --------------------------------------------------------------------------- detection
DET = os.path.join(PROJECTS, "det_project")


@pytest.mark.slow  # ~15 s; own collate + _base_ helpers also in test_seed_wheel_project.py
def test_seed_detection_project_with_its_own_collate_trains_to_its_quality(tmp_path):
    """set_collate_fn (lists of boxes per image), boxes moved by the seed's pipeline,
    a _base_ config with helper variables, evaluation in after_loop."""
    run([sys.executable, os.path.join(DET, "train.py"), "--config-file", os.path.join(DET, "configs", "det.py"),
         "output_dir", str(tmp_path), "trainer.progress_bar", "False"], cwd=tmp_path)
    assert (tmp_path / "test_result.json").exists()  # the project's own after_loop ran
    sys.path.insert(0, PROJECTS)
    sys.path.insert(0, ROOT)
    from codes.digits_scenes.scenes import make_scene
    from det_project.network import BoxNet
    from torchvision.ops import box_iou

    net = BoxNet(num_classes=10, channels=[16, 32, 64], img_size=48)
    net.load_state_dict(weights(tmp_path / "det"))
    net.eval()
    mean = np.array([123.675, 116.28, 103.53])  # the configs' Normalize (the seed's: pixel units)
    std = np.array([58.395, 57.12, 57.375])
    ious = []
    for i in range(64):
        scene = make_scene(i, "val", size=48, max_digits=1, min_scale=16, max_scale=28)
        x = torch.from_numpy(((scene["img"] - mean) / std).transpose(2, 0, 1)).float()[None]
        with torch.no_grad():
            box, _ = net(x)
        ious.append(box_iou(box, torch.from_numpy(scene["bbox"])).max().item())
    assert np.mean(ious) > 0.5, np.mean(ious)


def test_seed_gan_names_answer_as_the_seeds():
    """dmodel_forward under 'default', d_optimizer / d_scheduler, and the seed-form
    solver.discriminator.clip_gradients, on the GAN project's bundle built in-process."""
    sys.path.insert(0, PROJECTS)
    import gan_project  # noqa: F401  (registers the project's classes)
    from engine.config.loader import load_cfg
    from engine.model.build import build_model

    model = build_model(load_cfg(os.path.join(GAN, "configs", "gan.py")))
    x = torch.zeros(3, 1, 8, 8)
    out = model.dmodel_forward(dict(x=x))
    assert list(out) == [model.DEFAULT_DMODEL_NAME] == ["default"] and out["default"].shape == (3, 1)
    assert torch.equal(out["default"], model.d_models["d"](x))
    assert model.dmodel_forward(dict(default=dict(x=x)))["default"].shape == (3, 1)
    assert model.d_optimizer["default"] is model.d_solvers["d"].optimizer
    assert model.d_scheduler["default"] is model.d_solvers["d"].lr_scheduler
    with pytest.raises(KeyError, match="no discriminator named"):
        model.dmodel_forward(dict(other=dict(x=x)))
    losses = model.dmodel_step(dict(img=torch.zeros(4, 1, 8, 8)))
    assert set(losses) == {"default"} and losses["default"].requires_grad
