#!/usr/bin/env bash
# Prepares what one GPU window carries (run here, in the project root, before the window).
#   .whl/ and .cifar/p1..p3   ../shared/tools/device-prepare (keras wheels; CIFAR-10 in 3 parts)
#   .gpu/commit               the commit the results will name (the device copy has no .git)
#   .gpu/mnist.tar.xz         MNIST (priority 5, chapter 5), about 11 MB
#   .gpu/work.tar.xz          the checkpoints of runs the last window left unfinished
#                             (runs/campaign/paper, see receive.sh), if any
# All three folders are ignored by git (.git/info/exclude). See tools/gpu/README.md.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
shared="$root/../shared"
"$shared/tools/device-prepare"
grep -qxF /.gpu/ .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
rm -rf .gpu && mkdir .gpu
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
echo "$commit" > .gpu/commit
tar -C "$shared/data" -cf - mnist | xz -6 -T2 > .gpu/mnist.tar.xz
if [ -d runs/campaign/paper ]; then
  tar -C runs/campaign --exclude='*/tensorboard' --exclude='*/model.keras' -cf - paper \
    | xz -3 -T2 > .gpu/work.tar.xz
fi
du -sh .whl .cifar/* .gpu/* | sed 's/^/  /'
echo "commit $commit"
