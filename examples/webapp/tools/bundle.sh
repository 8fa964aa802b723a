#!/bin/sh
# bundle.sh SRC DIST NAME — a stand-in for a compiler: concatenates the JavaScript sources
# (sorted, so the output is byte-for-byte reproducible), fills in the page template, and
# writes a start script. Only POSIX tools.
set -eu
src=$1 dist=$2 name=$3
rm -rf "$dist"
mkdir -p "$dist"
for f in $(ls "$src"/*.js | sort); do
  printf '// --- %s\n' "$f"
  sed -e 's/^import .*$//' -e 's/^export //' "$f"
done > "$dist/app.js"
sed "s/{{APP_NAME}}/$name/g" "$src/index.html" > "$dist/index.html"
printf '#!/bin/sh\necho "%s: serving %s"\n' "$name" "$(wc -c < "$dist/app.js" | tr -d ' ') bytes of JavaScript" > "$dist/run.sh"
chmod +x "$dist/run.sh"
echo "bundled $(ls "$src"/*.js | wc -l | tr -d ' ') modules into $dist/app.js"
