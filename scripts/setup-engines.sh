#!/usr/bin/env bash
# Installs the optional conversion engines the tests exercise and the tools they check
# results with (Debian packages):
# - LibreOffice (Writer, headless) for office documents, and bubblewrap, which fences
#   every LibreOffice run in (without it LibreOffice is not used), with the DejaVu
#   fonts LibreOffice lays text out with;
# - poppler's tools (pdfinfo, pdftoppm, pdftotext): PDFs as input (pages as pictures,
#   text); the tests also read PDFs back with pdftotext;
# - FFmpeg (ffmpeg, ffprobe) for audio and video; the tests also make their media
#   inputs with it and read results back with ffprobe;
# - Pandoc for documents (markdown, HTML, Word, OpenDocument, EPUB, reStructuredText,
#   LaTeX, Org); the tests also make their document inputs with it;
# - libheif's tools (heif-convert, heif-enc) for HEIC and AVIF;
# - cwebp (webp) and cjpeg (libjpeg-turbo-progs), the reference encoders the tests
#   compare WebP and JPEG output sizes with.
# The service runs without any of them (it then offers the built-in conversions
# only, and each engine found adds its own); to add them on a server, run this script
# or install the same packages.
# Idempotent: it installs only what is missing.
set -euo pipefail

missing=()
need() { # need COMMAND PACKAGE...
  local command="$1"
  shift
  command -v "$command" >/dev/null 2>&1 || missing+=("$@")
}
need soffice libreoffice-writer-nogui fonts-dejavu-core
need bwrap bubblewrap
need pdftoppm poppler-utils
need ffmpeg ffmpeg
need pandoc pandoc
need heif-enc libheif-examples
need cwebp webp
need cjpeg libjpeg-turbo-progs
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
# With recommendations: LibreOffice's recommended packages are part of what was tested.
"$(dirname "$0")/apt-install.sh" --with-recommends "${missing[@]}"
