# Sourced by the GPU recipes: install the carried wheels (the lent machine has no registry and no
# soundfile), make the checkout importable, and set OUT (the device tool sets it; default ./out).
python3 -m pip install -q --no-index --find-links .whl soundfile pystoi || exit 1
# constriction (the range coder of .secomp files) travels with the tree: without it the files
# written there were bit-packed only, 1.2-1.8x larger (recipes/reencode_artifacts.py fixes them)
python3 -m pip install -q --no-index --find-links recipes/device-wheels constriction || exit 1
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-out}
mkdir -p "$OUT"
