#!/usr/bin/env bash
# Puts Steady's Android resources into the Android project that `dx bundle --platform
# android` generated: the launcher icon, in place of dx 0.7.10's default icon, and the
# backup rules (res/xml) that platforms/android/AndroidManifest.xml names, without which
# Gradle refuses to build. Run `./gradlew assembleDebug` (or assembleRelease) in that
# project afterwards to build the APK.
#
#   platforms/android/use-steady-icon.sh target/dx/steady/release/android/app
set -euo pipefail
project=${1:?"usage: $0 GRADLE_PROJECT (for example target/dx/steady/release/android/app)"}
res="$project/app/src/main/res"
[ -d "$res" ] || { echo "$res does not exist: run dx bundle --platform android first" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
# dx's icons are ic_launcher.webp; ours are ic_launcher.png, and Android refuses two
# resources of one name.
rm -f "$res"/mipmap-*/ic_launcher.webp
cp -R "$here/res/." "$res/"
echo "Steady's icon and backup rules are in $res"
