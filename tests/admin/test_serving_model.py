"""Which model a (re)starting Rasa server loads: the deployed one, unless `make` built a newer one."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from admin.training import model_to_serve
from ccm_core.bootstrap import Core
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import teaching
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Clock


def deploy(uow: UnitOfWork, name: str, path: Path) -> int:
    path.write_bytes(b"model")
    return teaching.record_model(
        uow, Actor.system("test"), name=name, path=str(path), deployed=True,
        evaluation={}, baseline={}, reason=None, examples_added=1,
    ).id  # fmt: skip


def test_a_restart_serves_the_deployed_or_rolled_back_model_until_make_builds_a_newer_one(
    make_uow, settings, engine, clock: Clock, tmp_path: Path
) -> None:
    core = Core(settings, engine, make_uow)
    built = tmp_path / "ccm-built.tar.gz"
    built.write_bytes(b"model")
    two_hours_ago = time.time() - 7200
    os.utime(built, (two_hours_ago, two_hours_ago))  # make built it two hours ago
    assert model_to_serve(core, built) == built  # nothing deployed here yet

    clock.now = dt.datetime.fromtimestamp(time.time() - 3600, dt.UTC)  # an hour ago
    first = deploy(make_uow(), "first", tmp_path / "first.tar.gz")
    clock.advance(minutes=5)
    deploy(make_uow(), "second", tmp_path / "second.tar.gz")
    assert model_to_serve(core, built) == tmp_path / "second.tar.gz"
    clock.advance(minutes=5)
    teaching.rolled_back(make_uow(), Actor.system("test"), first)
    assert model_to_serve(core, built) == tmp_path / "first.tar.gz"

    os.utime(built, None)  # make built a model from newer data just now
    assert model_to_serve(core, built) == built
    (tmp_path / "first.tar.gz").unlink()  # a deployed model whose file is gone cannot be served
    assert model_to_serve(core, None) is None
