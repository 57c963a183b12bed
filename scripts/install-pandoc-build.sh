#!/usr/bin/env bash
# Installs Pandoc's own build (a static binary with its data files built in) as
# /usr/local/bin/pandoc when the Pandoc on the PATH cannot write Word documents in
# sandbox mode. Debian 12's Pandoc (2.17) cannot: the service then writes Word,
# OpenDocument and EPUB in two sandboxed steps, about 110 ms slower per conversion.
# Pandoc's build is taken from PyPI's `pypandoc_binary` wheel, which carries the
# release binary of pandoc.org (PyPI is reachable where GitHub's releases may not be).
# Not fatal: without it the service keeps Debian's Pandoc and its two steps.
#   scripts/install-pandoc-build.sh
set -euo pipefail

# pypandoc_binary 1.17 carries Pandoc 3.9.
WHEEL="pypandoc_binary==1.17"
TARGET=/usr/local/bin/pandoc

writes_docx_sandboxed() { # writes_docx_sandboxed PANDOC
  local scratch
  scratch="$(mktemp -d)"
  printf 'probe\n' >"$scratch/probe.md"
  local ok=1
  (cd "$scratch" && "$1" --sandbox -f markdown -t docx -o probe.docx probe.md) >/dev/null 2>&1 && ok=0
  rm -rf "$scratch"
  return "$ok"
}

if command -v pandoc >/dev/null 2>&1 && writes_docx_sandboxed "$(command -v pandoc)"; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== installing Pandoc's own build ($WHEEL from PyPI) as $TARGET"
if ! python3 -m pip download --quiet --no-deps --only-binary=:all: "$WHEEL" -d "$work" >&2; then
  echo "Pandoc's build could not be downloaded; Debian's Pandoc stays (two steps for Word, OpenDocument, EPUB)" >&2
  exit 0
fi
python3 -m zipfile -e "$work"/pypandoc_binary-*.whl "$work/wheel" >/dev/null
binary="$work/wheel/pypandoc/files/pandoc"
chmod +x "$binary"
if ! writes_docx_sandboxed "$binary"; then
  echo "the downloaded Pandoc does not write Word sandboxed either; not installed" >&2
  exit 0
fi
$SUDO install -m 0755 "$binary" "$TARGET"
"$TARGET" --version | head -n 1
