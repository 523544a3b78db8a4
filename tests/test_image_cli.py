"""The four image generators from the CLI on real data: experiments, label checks, byte identity, errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthgen.io.coco import read_coco
from synthgen.io.imagefolder import read_imagefolder
from synthgen.merge import read_training_set
from synthgen.validators.labels import image_problems

pytestmark = pytest.mark.slow  # end-to-end runs of the CLI: `make test-fast` skips them

FAST = ["validation.validators.mmd.n_permutations=200", "validation.validators.ks.n_bootstrap=20",
        "validation.validators.mmd.n_bootstrap=20", "report.examples=2"]
TINY_DDPM = ["generator.train_steps=3", "generator.resolution=8", "generator.block_out_channels=[8,16]", "generator.batch_size=8",
             "generator.inference_steps=2", "generator.num_train_timesteps=50", "generator.sample_batch=8"]


def synthgen(*args, cwd, check=True):
    exe = str(Path(sys.executable).parent / "synthgen")
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"synthgen {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_coins_copy_paste_experiment(tmp_path):
    """The documented experiment end to end: COCO output with exact labels, a report, a gated merge."""
    out = tmp_path / "run"
    synthgen("+experiment=coins_copy_paste", f"hydra.run.dir={out}", *FAST, cwd=tmp_path)
    syn = read_coco(str(out / "synthetic"))
    assert syn.task == "segmentation" and syn.counts()["large_coin"] == 32 - 5 == len(syn)
    problems = [f"{s.id}: {p}" for s in syn.samples for p in image_problems(s, ["small_coin", "large_coin"])]
    assert not problems, problems[:3]
    coco = json.loads((out / "synthetic" / "annotations.json").read_text())
    assert all(isinstance(a["segmentation"], dict) and "counts" in a["segmentation"] for a in coco["annotations"])  # RLE
    for s in syn.samples:
        p = s.provenance
        assert p.generator == "synthgen.generators.image.copy_paste.ImageCopyPaste" and p.params["blend"] == "poisson"
        assert all(x.startswith("coins-") for x in p.parents)
    report = json.loads((out / "report.json").read_text())
    assert set(report["classes"]) == {"large_coin"}
    assert report["classes"]["large_coin"]["counts"] if "counts" in report["classes"]["large_coin"] else True
    # YOLO export of the same run (the merged training set is YOLO too), and byte identity of a second run
    out2 = tmp_path / "yolo"
    synthgen("+experiment=coins_copy_paste", f"hydra.run.dir={out2}", "output=yolo", *FAST, cwd=tmp_path)
    assert (out2 / "synthetic" / "data.yaml").exists() and len(list((out2 / "synthetic" / "labels").glob("*.txt"))) == 27
    version = out2 / "training_set" / "versions" / (out2 / "training_set" / "CURRENT").read_text().strip()
    assert (version / "data.yaml").exists() and not (version / "annotations.json").exists()
    assert read_training_set(out2 / "training_set").format == "yolo"
    a = {k: v for k, v in tree(out / "synthetic").items()}
    b = {k: v for k, v in tree(out2 / "synthetic").items() if k.startswith("images/")}
    assert {k: v for k, v in a.items() if k.startswith("images/")} == b


def test_procedural_on_digits_shards_equal_one_run(tmp_path):
    """Three runs: the whole plan, and the two halves of it; the halves hold exactly the same bytes."""
    args = ["generator=image_procedural", "generator.blur=[0.3,1.0]", "policy.target=50", "policy.rare_below=null",
            "merge.into=null", *FAST]
    synthgen(*args, f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    whole = tree(tmp_path / "a" / "synthetic")
    assert len(whole) == 1 + (50 - 40) * 2 + (50 - 15)  # manifest + 3:10, 5:10, 8:35
    ds = read_imagefolder(str(tmp_path / "a" / "synthetic"))
    assert {k: v for k, v in ds.counts().items() if v} == {"3": 10, "5": 10, "8": 35}
    assert all(s.data.shape == (32, 32, 3) and not image_problems(s, [str(i) for i in range(10)]) for s in ds.samples)
    assert (tmp_path / "a" / "report.json").exists()
    parts = {}
    for k in range(2):
        synthgen(*args, f"shard={k}/2", f"hydra.run.dir={tmp_path / f's{k}'}", cwd=tmp_path)
        parts.update({n: v for n, v in tree(tmp_path / f"s{k}" / "synthetic").items() if n.endswith(".png")})
    assert parts == {n: v for n, v in whole.items() if n.endswith(".png")}


def test_digits_ddpm_experiment_tiny(tmp_path):
    cache = tmp_path / "cache"
    args = ["+experiment=digits_ddpm", *TINY_DDPM, f"generator.cache_dir={cache}", "policy.target=44", "policy.classes=[3,8]", "merge.into=null", *FAST]
    synthgen(*args, f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    cks = list(cache.iterdir())
    # one model for the merged samples, one per cross-fitting fold (trained without that fold; 3 folds x 1 repeat)
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["reference"]["folds"] == 3 and rep["reference"]["repeats"] == 1
    assert len(cks) == 4 and all((c / "diffusion_pytorch_model.safetensors").exists() for c in cks)
    ds = read_imagefolder(str(tmp_path / "a" / "synthetic"))
    assert {k: v for k, v in ds.counts().items() if v} == {"3": 4, "8": 29}
    p = ds.samples[0].provenance
    assert p.params["checkpoint"] in {c.name for c in cks} and p.params["steps_trained"] == 3 and len(p.params["weights_sha256"]) == 64
    assert all(s.data.shape == (32, 32, 3) for s in ds.samples)
    # a second run reuses the checkpoint and writes the same bytes
    synthgen(*args, f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    assert tree(tmp_path / "a" / "synthetic") == tree(tmp_path / "b" / "synthetic")
    assert len(list(cache.iterdir())) == 4


def test_diffusion_from_a_local_folder(tmp_path):
    from synthgen.generators.image.diffusion import build_random_pipeline

    sd = build_random_pipeline(tmp_path / "sd", "tiny", 32)
    args = ["generator=image_diffusion", f"generator.pipeline.path={sd}", "generator.steps=2", "generator.mode=img2img",
            "generator.strength=0.5", "policy.target=42", "policy.classes=[3,5]", "merge.into=null", *FAST]
    synthgen(*args, f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    ds = read_imagefolder(str(tmp_path / "a" / "synthetic"))
    assert {k: v for k, v in ds.counts().items() if v} == {"3": 2, "5": 2}
    for s in ds.samples:
        p = s.provenance
        assert p.params["pipeline"] == "StableDiffusionImg2ImgPipeline" and len(p.parents) == 1 and p.parents[0].startswith("digits-")
        assert p.params["weights_sha256"] and p.params["strength"] == 0.5


@pytest.mark.parametrize("args, message", [
    (["generator=image_diffusion"], "generator.pipeline.path: missing"),
    (["generator=image_copy_paste"], "class '3': no annotated instances to paste"),
    (["+experiment=coins_copy_paste", "generator.blend=alpha"], "generator.blend: must be one of hard, gaussian, poisson"),
    (["generator=image_procedural", "+generator.classes.x.shape=blob"], "generator.classes.x.shape: unknown shape 'blob'"),
    (["generator=image_procedural", "generator.backgrounds=[plasma]"], "generator.backgrounds: unknown background 'plasma'"),
    (["generator=image_diffusion", "generator.pipeline.path=/nonexistent"], "generator.pipeline.path: /nonexistent is not a diffusers pipeline folder"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    out = tmp_path / "run"
    p = synthgen(*args, f"hydra.run.dir={out}", "merge.into=null", cwd=tmp_path, check=False)
    assert p.returncode == 2, p.stderr
    err = [line for line in p.stderr.splitlines() if line.startswith("synthgen: error:")]
    assert len(err) == 1 and message in err[0], p.stderr
    assert not (out / "synthetic").exists()
