"""tfstack.goservice: the Go service's binary is cached outside the clone, keyed by its sources."""

import shutil

import pytest

from tfstack import goservice
from tfstack.build import BuildError
from tfstack.paths import REPO


@pytest.fixture
def source(tmp_path):
    copy = tmp_path / "goservice"
    shutil.copytree(goservice.SOURCE, copy)
    return copy


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEFLEET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_module_pins_what_the_docs_say():
    text = (goservice.SOURCE / "go.mod").read_text()
    for line in ("go.opentelemetry.io/otel v1.45.0", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp v1.45.0",
                 "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.70.0",
                 "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc v0.70.0",
                 "google.golang.org/grpc v1.85.0"):
        assert line in text
    assert (goservice.SOURCE / "go.sum").stat().st_size > 0


def test_the_key_covers_go_mod_go_sum_and_every_go_file(source):
    before = goservice.source_hash(source)
    assert [p.name for p in goservice.source_files(source)] == ["go.mod", "go.sum", "main.go"]
    (source / "extra.go").write_text("package main\n")
    assert goservice.source_hash(source) != before
    (source / "extra.go").unlink()
    assert goservice.source_hash(source) == before
    (source / "README").write_text("not a source")
    assert goservice.source_hash(source) == before


def test_a_cached_binary_is_reused_without_go(source, cache, monkeypatch):
    path = goservice.binary_path(source)
    assert path.parent == cache / "bin" and not path.is_relative_to(REPO)
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n")
    monkeypatch.setattr(goservice.subprocess, "run", lambda *a, **k: pytest.fail("go ran for a cached binary"))
    assert goservice.ensure(source, log=lambda *_: None) == path


def test_a_failed_build_names_the_service_and_leaves_nothing(source, cache):
    (source / "main.go").write_text("package main\n\nfunc main() { undefined() }\n")
    with pytest.raises(BuildError, match="building goservice failed(.|\n)*undefined"):
        goservice.ensure(source, log=lambda *_: None)
    assert not list((cache / "bin").glob("goservice-*"))


def test_go_caches_inside_the_clone_are_not_used(monkeypatch):
    monkeypatch.setenv("GOCACHE", str(REPO / ".gocache"))
    monkeypatch.setenv("GOFLAGS", "-buildvcs=false -mod=mod")
    env = goservice._go_env()
    assert "GOCACHE" not in env and env["GOFLAGS"] == "-buildvcs=false -mod=readonly"
