"""benchmarks/input_pipeline.py runs end to end with tiny settings (8 JPEGs, one round):
every side loads batches of the same shape and dtype (the script asserts it) and its JSON
holds the rows and ratios it prints (~6 s on one core)."""
import json
import os
import subprocess
import sys

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "input_pipeline.py")


def test_a_tiny_run_times_every_side_for_both_outputs(tmp_path):
    out = tmp_path / "numbers.json"
    done = subprocess.run([sys.executable, SCRIPT, "--images", "8", "--batch-size", "4", "--rounds", "1",
                           "--data", str(tmp_path / "jpegs"), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "jpegs")) == ["c0", "c1", "c2", "c3"]
    numbers = json.loads(out.read_text())
    assert numbers["clock"] == "cpu" and numbers["versions"]["pillow"] and numbers["decode_max_difference"] >= 0
    rows = numbers["rows"]
    assert [r["output"] for r in rows] == ["float", "uint8"]
    for row in rows:
        assert row["images_per_round"] == 8
        assert set(row["per_core"]) == {"engine", "torchvision", "v2"}
        assert all(len(v) == 1 and v[0] > 0 for v in row["per_core"].values())
        for other in ("torchvision", "v2"):
            ratio = row[f"ratio_{other}"]
            assert ratio["rounds"] == [row["rate"]["engine"][0] / row["rate"][other][0]]
            assert ratio["median"] == ratio["worst"] == ratio["rounds"][0]
        assert f"{row['output']:<5}  engine" in done.stdout
    assert "engine/torchvision" in done.stdout and "load average after" in done.stdout
