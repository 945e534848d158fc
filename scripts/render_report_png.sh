#!/usr/bin/env bash
# Render the Summary sheet (the first sheet) of a daily Excel report to a PNG, so a person can look at it.
#
#   scripts/render_report_png.sh REPORT.xlsx [OUT.png] [DPI]
#
# LibreOffice headless converts the workbook to PDF (the Summary is set to print on one landscape
# page), then pdftoppm (poppler) turns the first page into a PNG. Needs, on Debian/Ubuntu:
#   apt-get install -y --no-install-recommends libreoffice-calc-nogui poppler-utils
# Not used by the test suite. `make report-png` calls it.
set -euo pipefail

report=${1:?usage: $0 REPORT.xlsx [OUT.png] [DPI]}
out=${2:-${report%.xlsx}_summary.png}
dpi=${3:-110}

soffice=$(command -v soffice || command -v libreoffice || true)
if [[ -z $soffice ]]; then
    echo "LibreOffice not found: apt-get install -y --no-install-recommends libreoffice-calc-nogui poppler-utils" >&2
    exit 2
fi
command -v pdftoppm >/dev/null || { echo "pdftoppm not found: apt-get install -y poppler-utils" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A throwaway LibreOffice profile: no clash with a running LibreOffice, nothing left in $HOME.
"$soffice" -env:UserInstallation="file://$work/profile" --headless --norestore \
    --convert-to pdf --outdir "$work" "$report" >/dev/null
pdf="$work/$(basename "${report%.xlsx}").pdf"
[[ -s $pdf ]] || { echo "LibreOffice produced no PDF for $report" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
pdftoppm -png -r "$dpi" -f 1 -l 1 -singlefile "$pdf" "${out%.png}"
echo "$out"
