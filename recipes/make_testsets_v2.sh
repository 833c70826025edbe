#!/usr/bin/env bash
# The two fixed test sets on corpus v2 (test speakers of speechocean762 and LibriSpeech; see
# ../shared/data/README.md). Written under the ignored testsets/ folder (the noises are CC BY-NC
# or research-only: mixtures never go into git).
#   matched:   training noises (noise/train: UrbanSound8K folds 1-3, Hu, Speech Commands,
#              speechbrain), noise file drawn uniformly.
#   untrained: test-only noises (noise/test: UrbanSound8K fold-10 subset, EMGSE street/car/
#              2-3-talker babble, a cat) for 80% of the mixtures, 4-talker babble built from
#              speech/babble for 20% (10 per SNR, interleaved over both corpora).
# SNRs -5, 0, 5, 10, 15 dB, 50 mixtures each (250 per set). Within every SNR, 35 mixtures use
# speechocean762 and 15 LibriSpeech test utterances (--corpus-share 0.7/0.3; the 80 LibriSpeech
# utterances are 3x longer, so 30% of the mixtures is ~57% of the audio). Each corpus's
# utterances are taken in a shuffled order without repeats (75 of the 80 LibriSpeech ones per
# set). The manifest's `corpus` column feeds the per-corpus results of `secomp evaluate`.
set -eu
DATA=${DATA:-../shared/data}
OUT=${OUT:-testsets}
N=${N:-250}
SNRS="-5 0 5 10 15"
SHARE="speechocean762=0.7 librispeech_train-clean-5=0.3"
secomp make-testset --speech $DATA/speech/test --noise $DATA/noise/train --snr $SNRS --n $N \
  --seed 1 --corpus-share $SHARE --out $OUT/matched_v2 --quiet
secomp make-testset --speech $DATA/speech/test --noise $DATA/noise/test --babble $DATA/speech/babble \
  --babble-share 0.2 --snr $SNRS --n $N --seed 2 --corpus-share $SHARE --out $OUT/untrained_v2 --quiet
