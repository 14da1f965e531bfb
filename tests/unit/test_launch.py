"""`launch.run_command`: exit statuses, one error line, and the stop line printed by rank 0 only."""

from __future__ import annotations

import signal

import pytest

from xlm_hf.errors import ConfigError, Interrupted
from xlm_hf.launch import RESUME_OVERRIDE, parse_command_line, run_command


def _fail(exc):
    def work(config, overrides):
        raise exc

    return work


def test_a_user_error_is_one_line_and_exit_2(capsys):
    assert run_command("pretrain", "", ["--config", "r.yaml"], _fail(ConfigError("data.x: bad\nvalue"))) == 2
    assert capsys.readouterr().err.strip() == "xlm-hf pretrain: error: data.x: bad value"


@pytest.mark.parametrize(("rank", "printed"), [(None, True), ("0", True), ("1", False)])
def test_a_stop_is_128_plus_the_signal_and_said_once(capsys, monkeypatch, rank, printed):
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    stop = Interrupted.training(signal.SIGTERM, "out/checkpoint-4")
    assert run_command("pretrain", "", ["--config", "r.yaml"], _fail(stop), resumable=True) == 143
    err = capsys.readouterr().err
    assert ("stopped by SIGTERM: checkpoint saved to out/checkpoint-4" in err) is printed


def test_flags_anywhere_and_resume_as_an_override():
    config, overrides, debug = parse_command_line(
        "pretrain", "", ["--config", "r.yaml", "training.max_steps=3", "--resume", "--debug"], resumable=True
    )
    assert (config, overrides, debug) == ("r.yaml", ["training.max_steps=3", RESUME_OVERRIDE], True)
    with pytest.raises(SystemExit):  # vocab has no --resume
        parse_command_line("vocab", "", ["--config", "v.yaml", "--resume"], resumable=False)
