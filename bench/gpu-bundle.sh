#!/usr/bin/env bash
# Builds .gpu/, the bundle that bench/gpu-check.sh runs on a lent GPU machine (no .NET SDK, no network there).
#
#   bench/gpu-bundle.sh            # from the repo root, on a machine with the .NET 10 SDK and the local NuGet copy
#
# .gpu/ (ignored: `/.gpu/` in the common git dir's info/exclude) then holds
#   dotnet-runtime.tar.xz   the `dotnet` host, host/fxr and shared/Microsoft.NETCore.App from the SDK install (no SDK)
#   app.tar.xz              tests/bin/Release/net10.0 (the test assembly and, beside it, the CLI kernels.dll) with the
#                           xunit 2.4.1 console runner copied in, stripped of pdb/xml, satellite resources and every
#                           runtimes/<rid> but linux-x64 (the runner must sit beside the tests: some tests look for
#                           repo files above AppContext.BaseDirectory, which is the runner's folder)
#   ocl-icd-libopencl1_*.deb Debian's OpenCL ICD loader (libOpenCL.so.1), for machines whose image lacks one
# and prints its size, which must stay well under the device call's 64 MiB (repo included).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bundle=$root/.gpu

exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
fx=$(ls -d "$dotnet_root"/shared/Microsoft.NETCore.App/10.* | sort -V | tail -1)
fxr=$(ls -d "$dotnet_root"/host/fxr/10.* | sort -V | tail -1)
runner=$(ls -d ~/.nuget/packages/xunit.runner.console/2.4.1/tools/netcoreapp2.0 2>/dev/null || true)
if [[ -z $runner ]]; then
    # The console runner is no project dependency: fetch it through a throw-away project outside the repo.
    tmp=$(mktemp -d)
    cat >"$tmp/fetch.csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="xunit.runner.console" Version="[2.4.1]" /></ItemGroup>
</Project>
EOF
    dotnet restore "$tmp/fetch.csproj" -v q
    rm -rf "$tmp"
    runner=~/.nuget/packages/xunit.runner.console/2.4.1/tools/netcoreapp2.0
fi

echo "# building (Release)"
dotnet build Kernels.sln -c Release -nologo -v q

rm -rf "$bundle"
mkdir -p "$bundle"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "# runtime: $fx"
mkdir -p "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/dotnet/host/fxr"
cp "$dotnet_root/dotnet" "$stage/dotnet/"
cp -r "$fxr" "$stage/dotnet/host/fxr/"
cp -r "$fx" "$stage/dotnet/shared/Microsoft.NETCore.App/"
tar -C "$stage" -cf - dotnet | xz -9 -T2 >"$bundle/dotnet-runtime.tar.xz"

echo "# app: tests/bin/Release/net10.0 + xunit.console 2.4.1"
app=$stage/app
cp -r tests/bin/Release/net10.0 "$app"
find "$app" \( -name '*.pdb' -o -name '*.xml' \) -delete
find "$app" -name '*.resources.dll' -delete
find "$app" -mindepth 1 -type d -empty -delete
find "$app/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
for f in "$runner"/xunit.console.dll "$runner"/xunit.console.runtimeconfig.json "$runner"/xunit.console.deps.json \
         "$runner"/xunit.runner.*.dll; do
    cp -n "$f" "$app/"
done
tar -C "$stage" -cf - app | xz -9 -T2 >"$bundle/app.tar.xz"

echo "# ocl-icd-libopencl1"
(cd "$bundle" && apt-get download ocl-icd-libopencl1 >/dev/null 2>&1) ||
    cp /var/cache/apt/archives/ocl-icd-libopencl1_*.deb "$bundle/"

ls -l "$bundle"
du -sh "$bundle"
