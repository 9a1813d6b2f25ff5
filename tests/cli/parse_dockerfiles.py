"""Parse Dockerfiles with BuildKit's parser (PyPI `dockerfile`) and print them as JSON.

Usage: parse_dockerfiles.py FILE...  ->  {"FILE": [[cmd, [values...], json_form], ...], ...}
A file the parser rejects maps to {"error": "..."}.
"""
import json
import sys

import dockerfile

out = {}
for path in sys.argv[1:]:
    try:
        cmds = dockerfile.parse_file(path)
        out[path] = [[c.cmd.lower(), list(c.value), c.json, list(c.flags)] for c in cmds]
    except dockerfile.GoParseError as e:
        out[path] = {"error": str(e)}
json.dump(out, sys.stdout)
