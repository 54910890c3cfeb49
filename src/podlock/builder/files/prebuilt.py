"""podlock prebuilt entrypoint: install what the image lacks, then exec.

Each wheel is fetched from the lock's URL and installed with its sha256 enforced and no
dependency resolution; packages the runtime base already has at the locked version are
skipped. Credentials, if an index needs them, come from PODLOCK_INDEX_AUTH_<HOST> at run
time and never from the image.
"""
import glob
import importlib.metadata as md
import os
import subprocess
import sys
import tempfile

def main() -> None:
    reqs_path, rest = sys.argv[1], sys.argv[2:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    have = {}
    for dist in md.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-").replace(".", "-")
        have[name] = dist.version
    todo = []
    with open(reqs_path) as fh:
        for line in fh:
            name, version, url, sha = line.split()
            if have.get(name) != version:
                todo.append(f"{name} @ {url} --hash=sha256:{sha}")
    if todo:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
            req.write("\n".join(todo) + "\n")
        # Debian's python3-venv, or the python.org images' ensurepip (as install.sh looks)
        wheels = (sorted(glob.glob("/usr/share/python-wheels/pip-*.whl"))
                  or sorted(glob.glob("/usr/local/lib/python3*/ensurepip/_bundled/pip-*.whl")))
        if not wheels:
            sys.exit("podlock: the image has no pip wheel to install with (add python3-venv)")
        cmd = [sys.executable, os.path.join(wheels[-1], "pip"), "install", "--quiet",
               "--no-deps", "--require-hashes", "--no-cache-dir", "-r", req.name]
        print(f"podlock: installing {len(todo)} locked packages", file=sys.stderr)
        subprocess.run(cmd, check=True)
    os.execvp(rest[0] if rest else "python", rest or ["python"])

main()
