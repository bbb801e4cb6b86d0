"""Checkpoints: bit-identical resume, the file format, and clear errors for damaged files."""

import json
import zipfile

import numpy as np
import pytest

from minifm.data.text import TokenData
from minifm.models import build_model
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer, KMeansImageTokenizer
from minifm.training.checkpoint import CheckpointError, load_checkpoint, module_rngs, save_checkpoint
from minifm.training.trainer import TrainConfig, Trainer

TEXT = "to be or not to be, that is the question. " * 20
CONFIG = TrainConfig(steps=20, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_steps=3,
                     eval_interval=5, eval_batches=2, log_interval=5, seed=3)


def _setup(seed: int = 0):
    """A tiny GPT with dropout (so its generator matters), its tokenizer and data."""
    tok = CharTokenizer.train(TEXT)
    config = GPTConfig(vocab_size=tok.vocab_size, context_length=8, n_layer=1, n_head=2, n_embd=16,
                       dropout=0.1)
    model = GPT(config, rng=np.random.default_rng(seed))
    return model, tok, TokenData.from_text(TEXT, tok, context_length=8)


def _trained_checkpoint(tmp_path):
    """A checkpoint after 5 steps, at tmp_path / "run" / "checkpoint.npz"."""
    model, tok, data = _setup()
    trainer = Trainer(model, data, CONFIG, out_dir=tmp_path / "run", tokenizer=tok, family="gpt",
                      quiet=True)
    trainer.run(until_step=5)
    return tmp_path / "run" / "checkpoint.npz", trainer


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    model, tok, data = _setup()
    straight = Trainer(model, data, CONFIG, quiet=True)
    dropout_before = [g.bit_generator.state for g in module_rngs(model).values()]
    straight.run()
    assert dropout_before != [g.bit_generator.state for g in module_rngs(model).values()]

    model, tok, data = _setup()
    first = Trainer(model, data, CONFIG, out_dir=tmp_path, tokenizer=tok, family="gpt",
                    quiet=True)
    first.run(until_step=10)
    resumed = Trainer.from_checkpoint(tmp_path, data, family="gpt", quiet=True)
    assert resumed.step == 10
    resumed.run()

    assert resumed.step == straight.step == 20
    for (name, p), (_, q) in zip(straight.model.named_parameters(),
                                 resumed.model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    ours, theirs = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    assert [r["val_loss"] for r in straight.history] == [r["val_loss"] for r in resumed.history]


def test_checkpoint_round_trip_restores_model_tokenizer_and_generators(tmp_path):
    path, trainer = _trained_checkpoint(tmp_path)
    ckpt = load_checkpoint(path, family="gpt")
    assert ckpt.step == 5 and ckpt.family == "gpt" and ckpt.dtype == "float32"
    assert ckpt.train_config == {**vars(CONFIG), "betas": list(CONFIG.betas)}
    assert ckpt.build_tokenizer().encode("to be") == trainer.tokenizer.encode("to be")
    model = ckpt.build_model()
    assert model.config == trainer.model.config
    for (name, p), (_, q) in zip(trainer.model.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    saved = {k: g.bit_generator.state for k, g in module_rngs(trainer.model).items()}
    assert {k: g.bit_generator.state for k, g in module_rngs(model).items()} == saved
    assert ckpt.make_rng().bit_generator.state == trainer.rng.bit_generator.state
    assert [r["step"] for r in ckpt.extra["history"]] == [5]


def test_checkpoint_is_plain_arrays_readable_without_pickle(tmp_path):
    path, trainer = _trained_checkpoint(tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        assert all(npz[k].dtype != object for k in files)
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        assert npz["meta"].dtype == np.uint8
    assert {f"param/{n}" for n, _ in trainer.model.named_parameters()} < files
    assert {"optim/step", "optim/exp_avg/0", "optim/exp_avg_sq/0"} < files
    assert meta["family"] == "gpt" and meta["model_config"]["dropout"] == 0.1
    assert set(meta["sha256"]) == files - {"meta"}
    assert len(meta["module_rng_states"]) >= 3            # embedding, attention and MLP dropout


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.npz"):
        load_checkpoint(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="checkpoint not found: .*checkpoint.npz"):
        load_checkpoint(tmp_path)                         # a folder without a checkpoint


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path, _ = _trained_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is truncated or corrupted"):
        load_checkpoint(path)


def test_flipped_byte_in_an_array_is_a_clear_error(tmp_path):
    path, _ = _trained_checkpoint(tmp_path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:                     # find the first parameter's data
        info = zf.getinfo("param/wte.weight.npy")
    raw[info.header_offset + 200] ^= 0xFF                 # inside its header or data
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_tampered_array_fails_its_checksum(tmp_path):
    path, _ = _trained_checkpoint(tmp_path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param/wte.weight"] = arrays["param/wte.weight"] + np.float32(1e-3)
    np.savez(path, **arrays)                              # a valid zip, with stale checksums
    with pytest.raises(CheckpointError, match=r"checksum mismatch for \['param/wte.weight'\]"):
        load_checkpoint(path)


def test_other_files_are_not_checkpoints(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minifm checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        load_checkpoint(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(tmp_path / "text.npz")
    np.savez(tmp_path / "bad_meta.npz", meta=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "bad_meta.npz")


def test_wrong_family_is_a_clear_error(tmp_path):
    path, _ = _trained_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="holds a 'gpt' model, not a 'bert' one"):
        load_checkpoint(path, family="bert")
    with pytest.raises(CheckpointError, match="holds a 'gpt' model"):
        Trainer.from_checkpoint(path, None, family="clip")


def test_failed_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path, trainer = _trained_checkpoint(tmp_path)
    old_bytes = path.read_bytes()

    def savez_that_dies(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_that_dies)
    trainer.step = 99
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint()
    assert path.read_bytes() == old_bytes
    assert load_checkpoint(path).step == 5
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []    # cleaned up


def test_build_model_rejects_unknown_family_and_bad_config(rng):
    with pytest.raises(ValueError, match="unknown model family 'nope'; known families: .*gpt"):
        build_model("nope", {}, rng=rng)
    with pytest.raises(ValueError, match="does not fit GPTConfig"):
        build_model("gpt", {"n_embd": 8, "width": 3}, rng=rng)
    model = build_model("gpt", {"vocab_size": 11, "context_length": 4, "n_layer": 1, "n_head": 2,
                                "n_embd": 8}, rng=rng, dtype=np.float64)
    assert isinstance(model, GPT) and model.wte.weight.data.dtype == np.float64


def test_resuming_needs_a_train_config(tmp_path):
    model, tok, data = _setup()
    trainer = Trainer(model, data, CONFIG, quiet=True)
    save_checkpoint(tmp_path / "c.npz", model=model, optimizer=trainer.optimizer, step=0,
                    rng=trainer.rng, train_config=None, tokenizer=None, family="gpt")
    with pytest.raises(CheckpointError, match="has no train config to resume with"):
        Trainer.from_checkpoint(tmp_path / "c.npz", data)
    assert Trainer.from_checkpoint(tmp_path / "c.npz", data, config=CONFIG).tokenizer is None


def test_save_checkpoint_into_a_missing_folder_is_a_clear_error(tmp_path):
    model, tok, data = _setup()
    trainer = Trainer(model, data, CONFIG, tokenizer=tok, family="gpt", quiet=True)
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist"):
        save_checkpoint(tmp_path / "missing" / "c.npz", model=model, optimizer=trainer.optimizer,
                        step=0, rng=trainer.rng, train_config=CONFIG, tokenizer=tok,
                        family="gpt")


def test_a_checkpoint_saved_before_the_context_length_rename_still_loads(tmp_path):
    """GPT checkpoints once stored ``block_size``; the same file must rebuild the same model."""
    path, _ = _trained_checkpoint(tmp_path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    config = meta["model_config"]
    config["block_size"] = config.pop("context_length")          # the old layout
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    old = tmp_path / "old.npz"
    np.savez(old, allow_pickle=False, **arrays)
    ckpt = load_checkpoint(old, family="gpt")
    assert ckpt.model_config["context_length"] == 8 and "block_size" not in ckpt.model_config
    model, original = ckpt.build_model(), load_checkpoint(path).build_model()
    model.eval()
    original.eval()
    idx = np.arange(8)[None] % model.config.vocab_size
    np.testing.assert_array_equal(model(idx)[0], original(idx)[0])


def test_a_model_that_reads_several_tokenizers_gets_them_all_back_by_name(tmp_path):
    # DALL-E reads caption words and image codes; its checkpoint carries both, the image
    # tokenizer's codebook bit for bit, and nothing is written beside the checkpoint.
    model, tok, data = _setup()
    codebook = np.random.default_rng(0).uniform(0, 1, (5, 12)).astype(np.float32) / 3
    image = KMeansImageTokenizer(codebook, image_size=4, patch_size=2)
    trainer = Trainer(model, data, CONFIG, out_dir=tmp_path / "run",
                      tokenizer={"text": tok, "image": image}, family="gpt", quiet=True)
    trainer.run(until_step=5)
    ckpt = load_checkpoint(tmp_path / "run", family="gpt")
    tokenizers = ckpt.build_tokenizer()
    assert set(tokenizers) == {"text", "image"}
    assert tokenizers["text"].to_dict() == tok.to_dict()
    assert type(tokenizers["image"]) is KMeansImageTokenizer
    assert tokenizers["image"].codebook.tobytes() == codebook.tobytes()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.npz",
                                                                   "metrics.json"]
    resumed = Trainer.from_checkpoint(tmp_path / "run", data, family="gpt", quiet=True)
    resumed.run()                                    # and saves them again, still by name
    again = load_checkpoint(tmp_path / "run").build_tokenizer()
    assert again["image"].to_dict() == image.to_dict()
