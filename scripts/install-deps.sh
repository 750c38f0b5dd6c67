#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages rametcd needs that are missing.
#   install-deps.sh          build dependencies
#   install-deps.sh --test   also the test oracle: etcd 3.4 server and etcdctl; and clang with
#                            libFuzzer and llvm-symbolizer for scripts/fuzz.sh
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config protobuf-compiler protobuf-compiler-grpc
          libprotobuf-dev libgrpc++-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
          liburing-dev libisal-dev libboost-dev libssl-dev openssl)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(etcd-server etcd-client curl clang-14 libclang-rt-14-dev llvm-14)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
