#!/usr/bin/env bash
# Compiles and lints every Bicep template with the real Bicep compiler (restored from NuGet).
# Any diagnostic fails the build: bicepconfig.json raises the linter's rules to errors.
# Parameter files (*.bicepparam) are built (build-params) and linted the same way.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/.*Azure.Bicep.CommandLine.linux-x64" Version="\[\([^]]*\)\]".*/\1/p' "$here/tools/bicep.csproj")
dotnet restore "$here/tools/bicep.csproj" --verbosity quiet >/dev/null
packages=${NUGET_PACKAGES:-$HOME/.nuget/packages}
bicep="$packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"
chmod +x "$bicep"
"$bicep" --version
out="$here/../dist/infra"
mkdir -p "$out"
status=0
while IFS= read -r file; do
  rel=${file#"$here/"}
  echo "bicep build $rel"
  log=$("$bicep" build "$file" --outdir "$out/$(dirname "$rel")" 2>&1) || status=1
  [ -n "$log" ] && { echo "$log"; status=1; }
  echo "bicep lint $rel"
  log=$("$bicep" lint "$file" 2>&1) || status=1
  [ -n "$log" ] && { echo "$log"; status=1; }
done < <(find "$here" -name '*.bicep' -not -path '*/tools/*' | sort)
while IFS= read -r file; do
  rel=${file#"$here/"}
  echo "bicep build-params $rel"
  log=$("$bicep" build-params "$file" --outfile "$out/${rel}.json" 2>&1) || status=1
  [ -n "$log" ] && { echo "$log"; status=1; }
  echo "bicep lint $rel"
  log=$("$bicep" lint "$file" 2>&1) || status=1
  [ -n "$log" ] && { echo "$log"; status=1; }
done < <(find "$here" -name '*.bicepparam' -not -path '*/tools/*' | sort)
[ "$status" -eq 0 ] && echo "Bicep: every template and parameter file compiled and linted with no diagnostics."
exit "$status"
