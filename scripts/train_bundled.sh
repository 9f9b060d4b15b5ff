#!/usr/bin/env bash
# Re-create the models that ship in trained_models/, in place (about 75 minutes on 2 cores).
# --bundled is what writes there, replacing each model of the same name (both files, atomically);
# without it a training goes to your data folder and never replaces a model.
# Needs MNIST: set DESKTOP_DENOISER_MNIST=/path/to/mnist.npz (or let Keras download it).
# Time budgets count CPU seconds of the training process, so the three denoisers can train
# side by side and still get equal, comparable budgets.
set -euo pipefail
cd "$(dirname "$0")/.."
dd() { python -m desktop_denoiser "$@"; }
# 1. the classifier first: the denoisers' downstream accuracy is measured with it
dd train --bundled --arch classifier --epochs 12 --patience 0 --name classifier
#    then fine-tuned from itself with a European flag on 30% of its training 1s (MNIST's 1s are
#    bare strokes; a flagged 1 was read as 7, the usual error on handwriting that is not MNIST)
dd train --bundled --arch classifier --init classifier --epochs 4 --patience 0 --flag-ones 0.3 --name classifier
# 2. the denoisers, in parallel
#    ours: U-Net on the mixture of all noises; the articles' networks on their own protocols
dd train --bundled --arch unet --noise mixed --epochs 100 --time-budget 1500 --patience 0 --name unet-mixed &
dd train --bundled --arch conv --noise blur+uniform:sigma_max=2,r_max=1.5 --batch-size 64 --epochs 1000 --time-budget 1500 --patience 0 --name conv-blur+uniform &
dd train --bundled --arch dense --noise uniform:level=0.9 --epochs 1000 --time-budget 400 --patience 0 --name dense-uniform &
# ours again, specialised on the second protocol, with the same CPU time and batch size as the
# conv network (batch 64 beat 128 for both: conv 16.31 vs 16.21 dB, unet 19.40 vs 19.04 dB)
dd train --bundled --arch unet --noise blur+uniform:sigma_max=2,r_max=1.5 --batch-size 64 --epochs 100 --time-budget 1500 --patience 0 --name unet-blur+uniform &
# the lab's 2-D model: a 784-256-2-256-784 network whose code is the map (View › Autoencoder lab)
dd train --bundled --arch dense --bottleneck 2 --noise uniform:0.5 --epochs 1000 --time-budget 400 --patience 0 --name dense-2d &
wait
