"""The seed's infrastructure modules (engine.comm, engine.collect_env, engine.log.logger,
engine.multiprocess, engine.config.parser, engine.data.{common,data_loader,samplers}):
they import under the seed's paths and do what they did in the seed."""
import importlib
import itertools
import json
import logging
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp

SEED_NAMES = {  # module: its names, as listed in ../shared/seed_api/seed_surface.json
    "engine.comm": "all_gather gather get_local_rank get_local_size get_rank get_world_size "
                   "is_main_process reduce_dict shared_random_seed synchronize",
    "engine.collect_env": "collect_env_info collect_torch_env detect_compute_compatibility "
                          "get_env_module test_nccl_ops",
    "engine.log.logger": "setup_logger",
    "engine.multiprocess": "MultiProcess",
    "engine.multiprocess.multiprocess": "MultiProcess",
    "engine.config": "get_cfg",
    "engine.config.defaults": "get_defaults",
    "engine.config.parser": "default_argument_parser",
    "engine.data": "BUILD_DATASET_REGISTRY EngineDataSet",
    "engine.data.common": "ToIterableDataset",
    "engine.data.data_loader": "create_base_data_loader create_data_loader create_distribute_data_loader "
                               "create_distribute_iterable_data_loader create_iterable_data_loader",
    "engine.data.samplers": "TrainingSampler GroupSampler RandomSubsetTrainingSampler "
                            "RepeatFactorTrainingSampler InferenceSampler",
}
SEED_NAMES["engine.data.samplers.distributed_sampler"] = SEED_NAMES["engine.data.samplers"]


@pytest.mark.parametrize("module", sorted(SEED_NAMES))
def test_seed_module_imports_with_its_names(module):
    mod = importlib.import_module(module)
    missing = [n for n in SEED_NAMES[module].split() if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"


def test_seed_names_are_our_objects():
    import engine.comm as seed_comm
    import engine.data as data
    import engine.utils.comm as comm
    from engine.data import build, dataset

    assert data.BUILD_DATASET_REGISTRY is build.BUILD_DATASET_REGISTRY
    assert data.EngineDataSet is dataset.EngineDataSet
    assert seed_comm.get_rank is comm.get_rank and seed_comm.synchronize is comm.synchronize


class Flagged(torch.utils.data.Dataset):
    flag = np.array([0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1])

    def __len__(self):
        return len(self.flag)

    def __getitem__(self, i):
        return {"i": i, "f": int(self.flag[i])}


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_training_sampler_ranks_split_each_epoch_disjoint_and_complete(world):
    from engine.data.samplers import TrainingSampler

    n = 10
    per_rank = [take(TrainingSampler(n, seed=4, rank=r, world_size=world), 3 * n) for r in range(world)]
    stream = [per_rank[p % world][p // world] for p in range(world * 3 * n)]
    for epoch in range(3):
        assert sorted(stream[epoch * n:(epoch + 1) * n]) == list(range(n))
    assert stream[:n] != stream[n:2 * n]  # a new permutation each epoch
    assert take(TrainingSampler(n, seed=4), 25) == take(TrainingSampler(n, seed=4), 25)
    assert take(TrainingSampler(n, shuffle=False, seed=0), 12) == list(range(10)) + [0, 1]


def test_random_subset_sampler_repeats_a_fixed_subset():
    from engine.data.samplers import RandomSubsetTrainingSampler

    s = RandomSubsetTrainingSampler(20, 0.25, seed_shuffle=1, seed_subset=2)
    first, second = take(s, 5), take(s, 10)[5:]
    assert len(set(first)) == 5 and set(first) == set(second)


def test_repeat_factor_sampler_repeats_as_told():
    from engine.data.samplers import RepeatFactorTrainingSampler

    s = RepeatFactorTrainingSampler(torch.tensor([1.0, 3.0, 0.5, 2.0]), seed=0)
    counts = np.bincount(take(s, 4000), minlength=4) / 4000
    assert np.allclose(counts / counts[0], [1.0, 3.0, 0.5, 2.0], atol=0.15)
    dicts = [{"annotations": [{"category_id": 0}]}] * 9 + [{"annotations": [{"category_id": 1}]}]
    rf = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.4)
    assert rf[0] == 1.0 and rf[-1] == pytest.approx(2.0)


def test_group_sampler_blocks_hold_one_group_and_ranks_share_whole_blocks():
    from engine.data.samplers import GroupSampler

    def groups_per_block(indices):
        return {len({int(Flagged.flag[i]) for i in indices[k:k + 3]}) for k in range(0, len(indices), 3)}

    whole = list(GroupSampler(Flagged(), 3, seed=1))
    assert len(whole) == 12 == len(GroupSampler(Flagged(), 3, seed=1)) and set(whole) == set(range(11))
    shards = [list(GroupSampler(Flagged(), 3, rank=r, world_size=2, seed=7)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6 and set(shards[0]) | set(shards[1]) == set(range(11))
    assert groups_per_block(whole) == groups_per_block(shards[0]) == groups_per_block(shards[1]) == {1}


def test_inference_sampler_covers_every_index_once(monkeypatch):
    import engine.compat.seed.samplers as samplers

    for world in (1, 3, 4):
        seen = []
        for rank in range(world):
            monkeypatch.setattr(samplers.comm, "get_rank", lambda r=rank: r)
            monkeypatch.setattr(samplers.comm, "get_world_size", lambda w=world: w)
            seen += list(samplers.InferenceSampler(10))
        assert seen == list(range(10))


def test_iterable_loaders_batch_and_cycle_forever():
    from engine.data.data_loader import (create_distribute_iterable_data_loader,
                                         create_iterable_data_loader)

    it = iter(create_iterable_data_loader(Flagged(), 4, num_workers=0))
    batches = [next(it)["i"].tolist() for _ in range(11)]  # 44 samples: 4 epochs of 11
    assert all(len(b) == 4 for b in batches)
    flat = sum(batches, [])
    assert sorted(flat[:11]) == list(range(11)) and sorted(flat[11:22]) == list(range(11))
    ranks = []
    for rank in range(2):  # one process plays both ranks: the shared seed comes from numpy
        np.random.seed(0)
        ranks.append(iter(create_distribute_iterable_data_loader(Flagged(), 2, rank, 2, 0)))
    for _ in range(3):
        step = [next(ranks[r])["i"].tolist() for r in range(2)]
        assert len(set(step[0]) | set(step[1])) == 4
    grouped = iter(create_iterable_data_loader(Flagged(), 3, 0, is_group=True))
    for _ in range(9):  # more than one epoch (4 blocks)
        assert len(set(next(grouped)["f"].tolist())) == 1


def test_epoch_loaders_drop_the_last_batch_and_shard():
    from engine.data.common import ToIterableDataset
    from engine.data.data_loader import (create_base_data_loader, create_data_loader,
                                         create_distribute_data_loader)
    from engine.data.samplers import TrainingSampler

    loader = create_data_loader(Flagged(), 3, num_workers=0)
    epochs = [[b["i"].tolist() for b in loader] for _ in range(2)]
    assert len(loader) == 3 and [len(e) for e in epochs] == [3, 3] and epochs[0] != epochs[1]
    assert len(set(sum(epochs[0], []))) == 9
    shards = [sum((b["i"].tolist() for b in create_distribute_data_loader(Flagged(), 2, r, 2, 0)), [])
              for r in range(2)]
    assert all(len(s) == 6 for s in shards)
    assert [b["i"].tolist() for b in create_base_data_loader(Flagged(), 5, 0)] == [[0, 1, 2, 3, 4],
                                                                                    [5, 6, 7, 8, 9]]
    it = iter(create_base_data_loader(ToIterableDataset(Flagged(), TrainingSampler(11, seed=0)), 4, 0))
    assert sorted(sum((next(it)["i"].tolist() for _ in range(11)), [])) == sorted(list(range(11)) * 4)


def test_comm_in_one_process():
    import engine.comm as comm

    d = {"b": torch.tensor(2.0), "a": torch.tensor(1.0)}
    assert comm.reduce_dict(d) is d
    assert comm.all_gather({"x": 1}) == [{"x": 1}] and comm.gather(3) == [3]
    assert comm.get_rank() == comm.get_local_rank() == 0 and comm.is_main_process()
    assert comm.get_world_size() == comm.get_local_size() == 1
    comm.synchronize()
    assert 0 <= comm.shared_random_seed() < 2 ** 31


def _two_ranks(rank, init, out):
    import engine.comm as comm
    from engine.data.samplers import InferenceSampler, TrainingSampler

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        np.random.seed(rank)  # ranks draw differently; the shared seed must still agree
        result = {
            "all_gather": comm.all_gather({"rank": rank}),
            "gather": comm.gather(rank * 10, dst=1),
            "reduce": {k: float(v) for k, v in comm.reduce_dict(
                {"loss": torch.tensor(float(rank + 1)), "acc": torch.tensor(2.0 * rank)}).items()},
            "sum": float(comm.reduce_dict({"x": torch.tensor(float(rank + 1))}, average=False)["x"]),
            "seed": comm.shared_random_seed(),
            "train": take(TrainingSampler(7), 7),
            "infer": list(InferenceSampler(5)),
        }
        comm.synchronize()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out, f"{rank}.json"), "w") as f:
        json.dump(result, f)


def test_comm_and_samplers_in_a_two_process_gloo_group(tmp_path):
    tmp.start_processes(_two_ranks, args=(f"file://{tmp_path}/rendezvous", str(tmp_path)),
                        nprocs=2, start_method="fork")
    r = [json.load(open(tmp_path / f"{rank}.json")) for rank in range(2)]
    assert r[0]["all_gather"] == r[1]["all_gather"] == [{"rank": 0}, {"rank": 1}]
    assert r[0]["gather"] == [] and r[1]["gather"] == [0, 10]
    assert r[0]["reduce"] == r[1]["reduce"] == {"acc": 1.0, "loss": 1.5}
    assert r[0]["sum"] == r[1]["sum"] == 3.0
    assert r[0]["seed"] == r[1]["seed"]
    assert sorted(r[0]["train"] + r[1]["train"]) == sorted(list(range(7)) * 2)
    assert r[0]["infer"] + r[1]["infer"] == [0, 1, 2, 3, 4]


def test_setup_logger_writes_the_file_alone_and_the_run_log_during_a_run(tmp_path, monkeypatch, capsys):
    from engine.log.logger import setup_logger
    from engine.utils.logger import setup_logger as engine_setup_logger

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # whatever earlier tests left; restored after
    monkeypatch.setattr(root, "level", root.level)
    logger = setup_logger(str(tmp_path / "alone"), name="seed_infra_project", color=False)
    assert setup_logger(str(tmp_path / "alone"), name="seed_infra_project") is logger
    logger.debug("standalone line")
    assert "standalone line" in (tmp_path / "alone" / "log.txt").read_text()
    assert capsys.readouterr().out.count("standalone line") == 1
    try:
        engine_setup_logger(str(tmp_path / "run"), 0)
        logger.info("line during the run")
        logging.getLogger("seed_infra_project").warning("via getLogger")
        run_log = (tmp_path / "run" / "log.txt").read_text()
        assert run_log.count("line during the run") == 1 and "via getLogger" in run_log
        assert "line during the run" not in (tmp_path / "alone" / "log.txt").read_text()
        assert capsys.readouterr().out.count("line during the run") == 1
    finally:
        for h in root.handlers + logger.handlers:
            h.close()
        logger.handlers.clear()


def test_collect_env_info_names_torch():
    from engine.collect_env import collect_env_info, get_env_module, test_nccl_ops

    info = collect_env_info()
    assert isinstance(info, str) and torch.__version__ in info and "torchvision" in info
    assert get_env_module()[0] == "ENGINE_ENV_MODULE"
    if torch.cuda.device_count() < 2:
        test_nccl_ops()  # says it skips; must not raise or hang


def test_default_argument_parser_takes_the_seed_command_line():
    from engine.config.parser import default_argument_parser

    args = default_argument_parser().parse_args(
        ["--config-file", "cfg.py", "--num-gpus", "2", "--num-machines", "1", "--machine-rank", "0",
         "--dist-url", "tcp://127.0.0.1:1234", "--resume", "--distribute", "SOLVER.MAX_ITER", "10"])
    assert (args.config_file, args.num_gpus, args.dist_url) == ("cfg.py", 2, "tcp://127.0.0.1:1234")
    assert args.resume and args.distribute and args.opts == ["SOLVER.MAX_ITER", "10"]
    parser = default_argument_parser(epilog="mine")
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args(["--config-file", "c.yaml", "--opts", "a.b", "1", "--extra", "3"])
    assert args.opts == ["a.b", "1"] and args.extra == 3 and parser.epilog == "mine"


def test_get_cfg_and_get_defaults_are_our_defaults():
    from engine.config import get_cfg, get_default_cfg
    from engine.config.defaults import get_defaults

    cfg = get_cfg()
    assert cfg == get_default_cfg() == get_defaults() and "SEED" in cfg and "SOLVER" in cfg
    cfg.SOLVER.MAX_ITER = 3  # mutable, and a fresh copy each call
    assert get_cfg().SOLVER.MAX_ITER != 3


def test_multiprocess_splits_the_sources_as_the_seed(tmp_path):
    from engine.multiprocess import MultiProcess
    from engine.compat.seed.multiprocess import split_sources

    assert split_sources(list(range(7)), 3) == [[0, 1, 6], [2, 3], [4, 5]]

    class Write(MultiProcess):
        def execute(self, args=()):
            sources, number, extra = args
            (tmp_path / f"{number}.txt").write_text(json.dumps([sources, list(extra)]))

    Write().schedule(2, [1, 2, 3], args=("x",))
    written = [json.loads((tmp_path / f"{n}.txt").read_text()) for n in (0, 1)]
    assert written == [[[1, 3], ["x"]], [[2], ["x"]]]  # the remainder goes to process 0
    with pytest.raises(RuntimeError):
        Write().schedule(4, [1, 2, 3])  # fewer sources than processes, as the seed

    class Fail(MultiProcess):
        def execute(self, args=()):
            raise SystemExit(3)

    with pytest.raises(RuntimeError, match="exit status 3"):
        Fail().schedule(1, [0])
