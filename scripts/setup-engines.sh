#!/usr/bin/env bash
# Installs the optional conversion engines the tests exercise and the tools they check
# results with (Debian packages):
# - LibreOffice (Writer, Calc and Impress, headless) for office documents,
#   spreadsheets and presentations, with the DejaVu fonts it lays text out with and
#   python3-uno, through which instances are kept warm; and bubblewrap, which fences
#   every external engine's run in;
# - poppler's tools (pdfinfo, pdftoppm, pdftotext): PDFs as input (pages as pictures,
#   text); the tests also read PDFs back with pdftotext;
# - FFmpeg (ffmpeg, ffprobe) for audio and video; the tests also make their media
#   inputs with it and read results back with ffprobe;
# - Pandoc for documents (markdown, HTML, Word, OpenDocument, EPUB, reStructuredText,
#   LaTeX, Org); the tests also make their document inputs with it. Where Debian's
#   Pandoc cannot write Word sandboxed, Pandoc's own build is added as
#   /usr/local/bin/pandoc (install-pandoc-build.sh): one step instead of two;
# - libheif's tools (heif-convert, heif-enc) for HEIC and AVIF;
# - cwebp (webp) and cjpeg (libjpeg-turbo-progs), the reference encoders the tests
#   compare WebP and JPEG output sizes with.
# The service runs without any of them (it then offers the built-in conversions
# only, and each engine found adds its own); to add them on a server, run this script
# or install the same packages.
# Idempotent: it installs only what is missing.
set -euo pipefail

# LibreOffice is installed with its recommended packages (part of what was tested);
# the other engines without.
office=()
command -v soffice >/dev/null 2>&1 || office+=(libreoffice-writer-nogui fonts-dejavu-core)
# Calc and Impress (spreadsheets and presentations) have no command of their own:
# their libraries sit beside soffice.
[ -e /usr/lib/libreoffice/program/libsclo.so ] || office+=(libreoffice-calc-nogui)
[ -e /usr/lib/libreoffice/program/libsdlo.so ] || office+=(libreoffice-impress-nogui)
# Warm LibreOffice instances are driven through its UNO bridge for the system Python.
/usr/bin/python3 -c "import uno" >/dev/null 2>&1 || office+=(python3-uno)
if [ "${#office[@]}" -gt 0 ]; then
  "$(dirname "$0")/apt-install.sh" --with-recommends "${office[@]}"
fi

missing=()
need() { # need COMMAND PACKAGE...
  local command="$1"
  shift
  command -v "$command" >/dev/null 2>&1 || missing+=("$@")
}
need bwrap bubblewrap
need pdftoppm poppler-utils
need ffmpeg ffmpeg
need pandoc pandoc
need heif-enc libheif-examples
need cwebp webp
need cjpeg libjpeg-turbo-progs
if [ "${#missing[@]}" -gt 0 ]; then
  "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi
"$(dirname "$0")/install-pandoc-build.sh"
