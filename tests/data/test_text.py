"""TokenData: a contiguous train/val split served as random (B, T) next-token windows."""

import numpy as np
import pytest

from minifm.data.text import TokenData, read_text_file
from minifm.tokenizers.char import CharTokenizer


def test_batches_are_contiguous_windows_with_targets_shifted_by_one(rng):
    data = TokenData(np.arange(200), context_length=8, val_fraction=0.1)
    x, y = data.get_batch("train", 5, rng)
    assert x.shape == y.shape == (5, 8) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x - x[:, :1], np.tile(np.arange(8), (5, 1)))  # contiguous
    np.testing.assert_array_equal(y, x + 1)


def test_train_and_val_are_contiguous_and_disjoint(rng):
    data = TokenData(np.arange(200), context_length=8, val_fraction=0.1)
    for _ in range(50):
        x, y = data.get_batch("train", 4, rng)
        assert y.max() < 180
        x, y = data.get_batch("val", 4, rng)
        assert x.min() >= 180


def test_every_window_start_is_reachable(rng):
    data = TokenData(np.arange(40), context_length=5, val_fraction=0.25)    # train: ids 0..29
    x, y = data.get_batch("train", 2000, rng)
    np.testing.assert_array_equal(np.unique(x[:, 0]), np.arange(25))     # 30 - 5 starts
    assert y.max() == 29


def test_bad_arguments_raise_clear_errors(rng):
    with pytest.raises(ValueError, match="1-D array of integer"):
        TokenData(np.zeros((2, 50), dtype=np.int64), context_length=4)
    with pytest.raises(ValueError, match="1-D array of integer"):
        TokenData(np.zeros(50), context_length=4)
    with pytest.raises(ValueError, match="val_fraction"):
        TokenData(np.arange(50), context_length=4, val_fraction=0.0)
    with pytest.raises(ValueError, match="context_length"):
        TokenData(np.arange(50), context_length=0)
    with pytest.raises(ValueError, match="too short for context_length=8: its val split has 5"):
        TokenData(np.arange(50), context_length=8, val_fraction=0.1)
    data = TokenData(np.arange(100), context_length=4)
    with pytest.raises(ValueError, match="split"):
        data.get_batch("test", 2, rng)


def test_from_file_reads_utf8_text(tmp_path, rng):
    path = tmp_path / "input.txt"
    text = "héllo wörld, " * 20
    path.write_text(text, encoding="utf-8")
    tok = CharTokenizer.train(text)
    data = TokenData.from_file(path, tok, context_length=6)
    assert len(data) == len(text)
    x, y = data.get_batch("train", 3, rng)
    for row_x, row_y in zip(x, y):
        window = tok.decode(row_x) + tok.decode(row_y[-1:])
        assert window in text


def test_from_file_errors_name_the_problem(tmp_path):
    tok = CharTokenizer.train("abc")
    with pytest.raises(FileNotFoundError, match="not found"):
        TokenData.from_file(tmp_path / "missing.txt", tok, context_length=4)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 abc".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 .*0xe9 at offset 3"):
        TokenData.from_file(tmp_path / "latin1.txt", tok, context_length=4)
    (tmp_path / "short.txt").write_text("abcabc", encoding="utf-8")
    with pytest.raises(ValueError, match="too short for context_length=8"):
        TokenData.from_file(tmp_path / "short.txt", tok, context_length=8)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        read_text_file(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="not a regular file"):
        read_text_file(tmp_path)
