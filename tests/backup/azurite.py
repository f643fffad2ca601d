"""Azurite (Azure Blob emulator) on 127.0.0.1, started and stopped by PID.

The project's setup installs it (`make test` runs `npm install --prefix .tools/azurite`);
a missing binary is an error, never a skip.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mercury.ops.pgserver import free_port

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


@dataclass
class Azurite:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.blob_endpoint};")

    def container_url(self, container: str) -> str:
        return f"{self.blob_endpoint}/{container}"

    def create_container(self, name: str) -> None:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string)
        client.create_container(name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_azurite(workdir: Path) -> Azurite:
    """Start azurite-blob on a free port with its data under `workdir`."""
    if not AZURITE_BIN.is_file():
        raise RuntimeError(f"Azurite is not installed at {AZURITE_BIN}: run `make test` "
                           "(or `npm install --prefix .tools/azurite azurite@3`)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--skipApiVersionCheck", "--disableTelemetry", "--location", str(workdir), "--silent"],
        stdout=subprocess.DEVNULL, stderr=(workdir / "azurite.err").open("wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite exited: {(workdir / 'azurite.err').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Azurite(proc, port)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("azurite did not start listening within 30s")
