"""The `hyper-sapiens` entry point: --version, --help listing every verb, and each verb's own --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hyper_sapiens
from hyper_sapiens.cli import main

VERBS = ("synth", "train-prior", "train", "evaluate", "predict", "video", "pretrain", "demo", "ablate",
         "convert-checkpoint", "export")


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"hyper-sapiens {hyper_sapiens.__version__}"


def test_help_lists_every_verb_and_each_verb_has_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for verb in VERBS:
        assert verb in listed, verb
        with pytest.raises(SystemExit) as stop:
            main([verb, "--help"])
        assert stop.value.code == 0
        assert "usage: hyper-sapiens " + verb in capsys.readouterr().out


def test_console_script_module_runs():
    proc = subprocess.run([sys.executable, "-m", "hyper_sapiens", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("hyper-sapiens ")
