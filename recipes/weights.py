"""Publish trained weights into git history and restore them on a fresh clone (secomp.weights).

    python recipes/weights.py publish crn --model checkpoints/crn/model.safetensors \
        --config configs/train/crn.yaml --valid-json results/selection/crn.json --commit
    python recipes/weights.py list
    python recipes/weights.py restore --all            # or NAME...; --out checkpoints

publish writes weights/<name>.safetensors (fp16) and its weights/INDEX.json entry; --commit (or
a later `seal NAME`) commits both, then commits the file's removal with the adding commit's hash
in the entry, so history holds the file and the working tree does not. --dry-run writes nothing.
"""

import sys

from secomp.weights import main

if __name__ == "__main__":
    sys.exit(main())
