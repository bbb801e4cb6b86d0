"""Checkpoint faults: damaged zip directories, garbage generator states, files that are not
checkpoints (pickles above all), and the temporary files a killed save leaves behind, including a
subprocess saving tens of MB killed at random points."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minifm.atomic import atomic_write, remove_stale_temps
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer
from minifm.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minifm.training.optim import AdamW

ROOT = Path(__file__).resolve().parents[2]


def _save(path: Path, seed: int = 0, n_embd: int = 16, n_layer: int = 1, step: int = 3) -> GPT:
    """Save a small GPT (with dropout, so it has module generators) and its AdamW state."""
    model = GPT(GPTConfig(vocab_size=11, context_length=8, n_layer=n_layer, n_head=2,
                          n_embd=n_embd, dropout=0.1), rng=np.random.default_rng(seed))
    save_checkpoint(path, model=model, optimizer=AdamW(model.parameters(), lr=1e-3), step=step,
                    rng=np.random.default_rng(seed), train_config=None,
                    tokenizer=CharTokenizer("abcdefghijk"), family="gpt")
    return model


def _rewrite_meta(path: Path, change) -> None:
    """Rewrite the checkpoint's 'meta' JSON with ``change(meta)`` (checksums stay valid: they
    cover the arrays, not the meta)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


# ---- damaged zip structure -----------------------------------------------------------------------
def _central_directory_offsets(raw: bytes) -> list[int]:
    """Byte offsets of every central-directory record (signature PK\\x01\\x02)."""
    out, i = [], raw.find(b"PK\x01\x02")
    while i != -1:
        out.append(i)
        i = raw.find(b"PK\x01\x02", i + 4)
    return out


@pytest.mark.parametrize("field, offset, value", [
    ("encryption flag", 8, 0x0001),            # general purpose bit 0: "password required"
    ("compression method", 10, 99),            # an unknown method (AES): NotImplementedError
    ("compression method", 10, 8),             # claims deflate for stored data: zlib.error
])
def test_a_flipped_flag_in_the_zip_central_directory_is_a_checkpoint_error(tmp_path, field,
                                                                            offset, value):
    path = tmp_path / "checkpoint.npz"
    _save(path)
    raw = bytearray(path.read_bytes())
    for record in _central_directory_offsets(bytes(raw)):
        struct.pack_into("<H", raw, record + offset, value)
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is truncated or corrupted"):
        load_checkpoint(path)


def test_random_byte_flips_in_the_zip_structure_give_the_checkpoint_or_an_error(tmp_path):
    path = tmp_path / "checkpoint.npz"
    model = _save(path)
    clean = path.read_bytes()
    directory = _central_directory_offsets(clean)
    flips = random.Random(0)
    for _ in range(60):
        raw = bytearray(clean)
        start = flips.choice(directory)
        raw[start + flips.randrange(46)] ^= 1 << flips.randrange(8)     # inside one record
        path.write_bytes(bytes(raw))
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as e:
            assert str(path) in str(e)
            continue
        for name, p in model.named_parameters():  # a harmless field (a date): the same weights
            np.testing.assert_array_equal(ckpt.params[name], p.data)


# ---- garbage in the meta -------------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda m: m.update(rng_state={"bit_generator": "PCG64", "state": "garbage"}),
     "the trainer's rng_state is not a valid PCG64 generator state"),
    (lambda m: m.update(rng_state={"bit_generator": "MT19937", "state": {}}),
     "the trainer's rng_state is not a valid PCG64"),
    (lambda m: m["rng_state"]["state"].update(state="not a number"),
     "the trainer's rng_state is not a valid PCG64"),
    (lambda m: m["module_rng_states"].update({"drop.rng": {"bit_generator": "PCG64"}}),
     "the generator state of drop.rng is not a valid PCG64"),
    (lambda m: m.update(rng_state=[1, 2, 3]), r"'meta' entries \['rng_state'\] have the wrong"),
    (lambda m: m.update(step="3"), r"'meta' entries \['step'\] have the wrong type"),
    (lambda m: m.update(model_config=None), r"\['model_config'\] have the wrong type"),
    (lambda m: m.update(dtype="complex64"), "unknown parameter dtype 'complex64'"),
])
def test_garbage_in_the_meta_is_a_checkpoint_error_at_load(tmp_path, change, words):
    path = tmp_path / "checkpoint.npz"
    _save(path)
    _rewrite_meta(path, change)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)


@pytest.mark.parametrize("config, words", [({"n_embd": "wide"}, "n_embd must be a positive int"),
                                            ({"n_embd": 16, "width": 3}, "does not fit GPTConfig")])
def test_a_model_config_that_does_not_fit_is_a_checkpoint_error_at_build(tmp_path, config, words):
    path = tmp_path / "checkpoint.npz"
    _save(path)
    _rewrite_meta(path, lambda m: m["model_config"].update(config))
    with pytest.raises(CheckpointError, match=f"cannot rebuild the 'gpt' model: .*{words}"):
        load_checkpoint(path).build_model()


# ---- files that are not checkpoints --------------------------------------------------------------
def _assert_not_a_checkpoint(path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a minifm checkpoint") as caught:
        load_checkpoint(path)
    assert "allow_pickle" not in str(caught.value) and str(path) in str(caught.value)


def test_a_pickle_is_not_a_checkpoint_and_no_pickle_is_suggested(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps({"param/wte.weight": np.zeros(3)}))
    _assert_not_a_checkpoint(path)


def test_an_npz_holding_pickled_objects_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.npz"
    _save(path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/wte.weight"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, allow_pickle=True, **arrays)
    _assert_not_a_checkpoint(path)


@pytest.mark.parametrize("content", [b"hello", b"PK", b"\x00" * 100, "é".encode() * 10])
def test_other_bytes_are_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(content)
    _assert_not_a_checkpoint(path)


def test_an_empty_file_is_a_checkpoint_error_that_says_so(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is empty"):
        load_checkpoint(path)


# ---- stale temporary files -----------------------------------------------------------------------
def _stale(folder: Path, name: str) -> Path:
    """A temporary file as a killed atomic_write leaves it (nobody holds its lock)."""
    path = folder / name
    path.write_bytes(b"half a checkpoint")
    return path


def test_the_next_save_removes_stale_temps_of_its_own_kind_only(tmp_path):
    stale = [_stale(tmp_path, ".checkpoint.npz.abc123_x.tmp"),
             _stale(tmp_path, ".checkpoint.npz.zz9.tmp")]
    others = [_stale(tmp_path, ".other.npz.abc123_x.tmp"),          # another file's temp
              _stale(tmp_path, ".checkpoint.npz.b.abc123.tmp"),     # the temp of checkpoint.npz.b
              _stale(tmp_path, "checkpoint.npz.abc123.tmp"),        # no leading dot: the user's
              _stale(tmp_path, ".checkpoint.npz.abc123.tmp.keep")]
    _save(tmp_path / "checkpoint.npz")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in others)
    assert sorted(os.listdir(tmp_path)) == sorted(["checkpoint.npz"] + [p.name for p in others])


def test_a_load_removes_stale_temps_too(tmp_path):
    _save(tmp_path / "checkpoint.npz")
    stale = _stale(tmp_path, ".checkpoint.npz.k1ll3d.tmp")
    load_checkpoint(tmp_path)                                      # the folder form
    assert not stale.exists()
    stale = _stale(tmp_path, ".checkpoint.npz.k1ll3d.tmp")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "other" / "checkpoint.npz")     # another folder: untouched
    assert stale.exists()


def test_a_live_writers_temp_file_is_never_removed(tmp_path):
    """A concurrent save into the same folder holds the lock on its temporary file: neither a
    load nor another save takes it, and it completes normally."""
    path = tmp_path / "tok.json"
    seen = {}

    def slow_write(f):
        f.write(b'{"type": "char", "chars": "ab"}')
        f.flush()
        mine = [n for n in os.listdir(tmp_path) if n.startswith(".tok.json.")]
        seen["removed"] = remove_stale_temps(path)                 # a cleaner, mid-write
        CharTokenizer("xyz").save(path)                            # a second writer, mid-write
        seen["still_there"] = all((tmp_path / n).exists() for n in mine) and len(mine) == 1

    atomic_write(path, slow_write)
    assert seen == {"removed": [], "still_there": True}
    assert path.read_text() == '{"type": "char", "chars": "ab"}'   # the first writer won last
    assert os.listdir(tmp_path) == ["tok.json"]


def test_a_writer_whose_temp_is_cleaned_before_it_locks_makes_another(tmp_path, monkeypatch):
    """The one race: a cleaner deletes the new temp between mkstemp and the writer's lock."""
    import minifm.atomic as atomic

    real_mkstemp, calls = atomic.tempfile.mkstemp, []

    def mkstemp_then_cleaned(**kwargs):
        fd, tmp = real_mkstemp(**kwargs)
        calls.append(tmp)
        if len(calls) == 1:
            assert remove_stale_temps(tmp_path / "tok.json") == [Path(tmp)]
        return fd, tmp

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_cleaned)
    CharTokenizer("ab").save(tmp_path / "tok.json")
    assert len(calls) == 2
    assert os.listdir(tmp_path) == ["tok.json"]
    assert CharTokenizer.load(tmp_path / "tok.json").chars == "ab"


# ---- a save killed at random points --------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from minifm.models.gpt import GPT, GPTConfig
    from minifm.training.checkpoint import save_checkpoint
    from minifm.training.optim import AdamW
    cfg = GPTConfig(vocab_size=256, context_length=64, n_layer=3, n_head=4, n_embd=256)
    model = GPT(cfg, rng=np.random.default_rng(int(sys.argv[2])))
    opt = AdamW(model.parameters(), lr=1e-3)
    print("saving", flush=True)       # the parent kills from here on
    save_checkpoint(sys.argv[1], model=model, optimizer=opt, step=int(sys.argv[2]),
                    rng=np.random.default_rng(0), train_config=None, tokenizer=None, family="gpt")
    print("done", flush=True)
""")


def _child(path: Path, seed: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(seed)],
                            stdout=subprocess.PIPE, text=True, env=env)


def _temps(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def _wait_for_temp(folder: Path, child: subprocess.Popen) -> float:
    """Wait until the child's temporary file appears (its write has begun); return the time."""
    while not _temps(folder) and child.poll() is None:
        time.sleep(0.002)
    return time.perf_counter()


def test_a_save_killed_at_random_points_leaves_the_previous_checkpoint_and_no_temp(tmp_path):
    path = tmp_path / "checkpoint.npz"
    child = _child(path, seed=1)                       # the previous checkpoint, saved whole
    assert child.stdout.readline() == "saving\n"
    start = _wait_for_temp(tmp_path, child)
    assert child.stdout.readline() == "done\n"
    write_seconds = time.perf_counter() - start        # how long one write takes here
    assert child.wait(timeout=120) == 0
    assert path.stat().st_size > 20e6                  # tens of MB: ~3.2M params, AdamW moments
    before = load_checkpoint(path)
    pick, killed_mid_save = random.Random(11), 0
    for round_ in range(5):
        seed = 100 + round_
        child = _child(path, seed)
        assert child.stdout.readline() == "saving\n"
        _wait_for_temp(tmp_path, child)
        time.sleep(pick.uniform(0.0, 0.8) * write_seconds)   # a random point of the write
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        killed_mid_save += bool(_temps(tmp_path))
        after = load_checkpoint(path)                  # (the load also cleans the stale temps)
        assert not _temps(tmp_path)
        if after.step == seed:                         # the rename came before the kill: the
            before = after                             # whole new file (its checksums passed)
            continue
        assert after.step == before.step and after.params.keys() == before.params.keys()
        for name, a in before.params.items():
            np.testing.assert_array_equal(after.params[name], a)
    assert killed_mid_save >= 1                        # kills really landed inside writes
    (tmp_path / ".checkpoint.npz.l3ft0v.tmp").write_bytes(b"\x00" * 1000)   # one more, stale
    child = _child(path, seed=7)                       # the next successful save
    assert child.wait(timeout=120) == 0
    assert load_checkpoint(path).step == 7
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
