"""``python benchmarks/gpu/sm90_only.py SETUP_PY``: keep only sm_90 in causal-conv1d's setup.py.

Its setup.py appends one ``-gencode arch=compute_NN,code=sm_NN`` pair per architecture (nine with
CUDA 13); compiling them all takes hours on a small CPU machine. Every pair but sm_90 (H100 / H200)
becomes ``pass``, which keeps the surrounding ``if`` blocks valid. Fails if no sm_90 pair is found.
"""

import re
import sys

PAIR = re.compile(r'cc_flag\.append\("-gencode"\)\s*cc_flag\.append\("arch=compute_(\d+),code=sm_\1"\)')


def sm90_only(text: str) -> str:
    if "90" not in PAIR.findall(text):
        raise SystemExit("sm90_only: no -gencode pair for sm_90 found; the setup.py layout changed")
    return PAIR.sub(lambda m: m.group(0) if m.group(1) == "90" else "pass", text)


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(sm90_only(text))
