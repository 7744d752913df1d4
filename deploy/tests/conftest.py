"""Emulators for the template checks: ministack and moto, each started on a
free port of 127.0.0.1 for the test session and stopped at its end."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator: deploys to an AWS emulator on 127.0.0.1")


def _die_with_parent():
    """The emulator gets SIGTERM when the test process dies, even by SIGKILL."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, command, env, ready_path):
        self.name = name
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix=f"anote-{name}-")
        self.log_path = Path(self.dir) / f"{name}.log"
        full_env = {**os.environ, **env(self.port)}
        # The emulators must not see real credentials or endpoints.
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            full_env.pop(key, None)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command(self.port),
            cwd=self.dir,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.wait_ready(ready_path)

    def wait_ready(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + path, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer on {self.endpoint} within {timeout} s:\n{self.tail()}")

    def tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ministack():
    server = Server(
        "ministack",
        lambda port: [sys.executable, str(HERE / "ministack_server.py")],
        lambda port: {
            "BIND_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "MINISTACK_REGION": "eu-central-1",
            # No IoT broker (it would listen on 0.0.0.0:8883) and no Docker:
            # RDS, ECS and CodeBuild stay records, no container starts.
            "IOT_MTLS_ENABLED": "0",
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",
            "LOG_LEVEL": "WARNING",
        },
        "/_ministack/health",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto():
    server = Server(
        "moto",
        lambda port: [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        lambda port: {},
        "/moto-api/",
    )
    yield server
    server.stop()
