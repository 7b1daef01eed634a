"""Settings validation at load time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infogap.server.config import load_settings


def test_incomplete_tls_settings_are_rejected_when_loaded():
    with pytest.raises(ValidationError, match="go together"):
        load_settings(auth={"tls_cert_file": "server.pem"})
    with pytest.raises(ValidationError, match="needs a server certificate"):
        load_settings(auth={"tls_client_ca_file": "ca.pem"})
