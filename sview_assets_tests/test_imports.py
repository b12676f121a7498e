"""Importing the code location (what the webserver, the daemon and every run do) stays cheap: no TensorFlow."""

import json
import subprocess
import sys

from sview_assets.settings import PROJECT_ROOT


def test_importing_the_definitions_leaves_tensorflow_and_keras_out():
    probe = "import json, sys; import sview_assets.definitions; print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
