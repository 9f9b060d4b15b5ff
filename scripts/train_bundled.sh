#!/usr/bin/env bash
# Re-create the models that ship in trained_models/ (CPU: about an hour on 2 cores).
# Needs MNIST: set DESKTOP_DENOISER_MNIST=/path/to/mnist.npz (or let Keras download it).
set -euo pipefail
cd "$(dirname "$0")/.."
dd() { python -m desktop_denoiser "$@"; }
# 1. the classifier first: the denoisers' downstream accuracy is measured with it
dd train --arch classifier --epochs 12 --patience 0 --name classifier
# 2. our default: U-Net on the mixture of all noises, 1800 CPU-seconds (about 15 minutes on 2 cores)
dd train --arch unet --noise mixed --epochs 100 --time-budget 1800 --patience 0 --name unet-mixed
# 3. the second article's network on its own protocol, the same 1800 CPU-seconds
dd train --arch conv --noise blur+uniform:sigma_max=2,r_max=1.5 --epochs 1000 --time-budget 1800 --patience 0 --name conv-blur+uniform
# 4. the first article's network on its own protocol (it converges within minutes)
dd train --arch dense --noise uniform:level=0.9 --epochs 1000 --time-budget 600 --patience 0 --name dense-uniform
