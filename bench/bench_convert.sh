#!/usr/bin/env bash
# bench_convert.sh - the engine against the reference command-line tools with the same settings:
# builds cct (release), makes the inputs in bench/out/ (10 s of 720p30 video, 60 s of wav, a
# 4000x3000 jpeg, 100 MB of mixed data), runs each row RUNS times per side, alternating cct and
# reference, and prints a markdown table of median wall time, the ratio cct/ref, the peak RSS
# of each side and both output sizes (also written to bench/out/convert.md).
#
# Peak RSS comes from GNU time's %M, i.e. ru_maxrss of wait4() on the process it ran. Linux
# folds the maxrss of every child a process reaped into it (max, not sum), so for cct it is
# max(sandbox parent, conversion child): the child's peak whenever the child is the larger.
# The parent (libraries mapped, nothing converted) is printed alone as "cct idle" for scale.
#
# Settings mirror the engines' defaults (src/domain/convert/conv_av_enc.c, conv_av_filter.c,
# conv_image.c, conv_archive.c). mp4 -> mp4 needs a preset in cct (same format), so that row
# uses --preset balanced (x264 crf 26, aac 128k; a 720p source is not scaled).
#
# Environment: BUILD (build folder, default build), RUNS (default 3), BIG_MB (default 100),
# ONLY (run only the rows whose name contains this text; the table then goes to
# bench/out/convert-only.md so the full one stays).
set -euo pipefail -o noglob # noglob: the reference commands hold [ ] and ; literally

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
BIG_MB=${BIG_MB:-100}
OUT=$ROOT/bench/out
ONLY=${ONLY:-}
MD=$OUT/convert.md
[ -n "$ONLY" ] && MD=$OUT/convert-only.md
CCT=$ROOT/$BUILD/cct
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
export LC_ALL=C

cd "$ROOT"
make -j2 BUILD="$BUILD" >/dev/null
mkdir -p "$OUT/res"

# ---- inputs (made once) ---------------------------------------------------------------------
[ -s "$OUT/in.mp4" ] || "${FF[@]}" -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
    -f lavfi -i sine=frequency=440:sample_rate=44100:duration=10 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$OUT/in.mp4"
[ -s "$OUT/in.wav" ] || "${FF[@]}" -f lavfi -i sine=frequency=440:sample_rate=44100:duration=60 \
    -ac 2 -c:a pcm_s16le "$OUT/in.wav"
[ -s "$OUT/in.jpg" ] || "${FF[@]}" -f lavfi -i testsrc2=size=4000x3000:rate=1 -frames:v 1 \
    -q:v 2 "$OUT/in.jpg"
if [ ! -s "$OUT/in.bin" ] || [ "$(stat -c %s "$OUT/in.bin")" -ne $((BIG_MB * 1048576)) ]; then
    # mixed: pcm audio, jpeg (incompressible), C headers (text), repeated up to BIG_MB
    find /usr/include -maxdepth 2 -name '*.h' -type f -print0 | sort -z | xargs -0 cat \
        > "$OUT/text.tmp"
    : > "$OUT/in.bin"
    while [ "$(stat -c %s "$OUT/in.bin")" -lt $((BIG_MB * 1048576)) ]; do
        cat "$OUT/in.wav" "$OUT/text.tmp" "$OUT/in.jpg" >> "$OUT/in.bin"
    done
    truncate -s $((BIG_MB * 1048576)) "$OUT/in.bin"
    rm -f "$OUT/text.tmp"
fi

# ---- rows: name | cct arguments | reference command ({in} and {out} substituted) -------------
GIF_VF="fps=10,scale=480:270:flags=lanczos,setsar=1,split[s0][s1];[s0]palettegen=stats_mode=diff[pal];[s1][pal]paletteuse"
ROWS=(
    "wav -> mp3|in.wav|mp3||ffmpeg -nostdin -loglevel error -y -i {in} -c:a libmp3lame -b:a 192k {out}"
    "mp4 -> webm|in.mp4|webm||ffmpeg -nostdin -loglevel error -y -i {in} -c:v libvpx-vp9 -crf 32 -b:v 0 -deadline realtime -cpu-used 8 -row-mt 1 -pix_fmt yuv420p -c:a libopus -b:a 128k {out}"
    "mp4 -> mp4 (balanced)|in.mp4|mp4|balanced|ffmpeg -nostdin -loglevel error -y -i {in} -c:v libx264 -preset veryfast -crf 26 -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart {out}"
    "mp4 -> gif|in.mp4|gif||ffmpeg -nostdin -loglevel error -y -i {in} -vf $GIF_VF -an {out}"
    "jpg -> webp|in.jpg|webp||vips copy {in} {out}[Q=85,effort=4]"
    "jpg -> png|in.jpg|png||vips copy {in} {out}[compression=6]"
    "file -> tar.gz|in.bin|tar.gz||bsdtar -czf {out} -C $OUT in.bin"
    "file -> zip|in.bin|zip||bsdtar --format zip -cf {out} -C $OUT in.bin"
    "file -> tar.xz|in.bin|tar.xz||bsdtar -cJf {out} -C $OUT in.bin"
    "file -> tar.zst|in.bin|tar.zst||bsdtar --zstd -cf {out} -C $OUT in.bin"
)

# measure LOGFILE CMD...: appends "seconds maxrss_kb" of one run.
measure() {
    local log=$1
    shift
    /usr/bin/time -f "%e %M" -o "$OUT/res/time.tmp" "$@" >/dev/null 2>"$OUT/res/err.tmp" || {
        echo "bench: failed: $*" >&2
        cat "$OUT/res/err.tmp" >&2
        exit 1
    }
    tail -n 1 "$OUT/res/time.tmp" >> "$log"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b/1048576;
                                else printf "%.0f KB", b/1024 }'; }

idle_kb=$(/usr/bin/time -f %M "$CCT" formats 2>&1 >/dev/null | tail -n 1)
{
    echo "cct \`$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')\` on $(nproc) cores," \
         "$RUNS runs per side (alternating), median wall time; peak RSS = GNU time %M" \
         "(for cct: max of sandbox parent and conversion child). cct idle: $((idle_kb / 1024)) MB."
    echo
    echo "| conversion | cct s | ref s | cct/ref | cct RSS MB | ref RSS MB | cct out | ref out |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} > "$MD"

for row in "${ROWS[@]}"; do
    IFS='|' read -r name input to preset ref <<<"$row"
    [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]] && continue
    in=$OUT/$input
    c_out=$OUT/res/cct.$to
    r_out=$OUT/res/ref.$to
    ref=${ref//\{in\}/$in}
    ref=${ref//\{out\}/$r_out}
    extra=()
    [ -n "$preset" ] && extra=(--preset "$preset")
    : > "$OUT/res/c.log"
    : > "$OUT/res/r.log"
    for _ in $(seq "$RUNS"); do
        rm -f "$c_out" "$r_out"
        measure "$OUT/res/c.log" "$CCT" convert "$in" "$c_out" "${extra[@]}"
        # shellcheck disable=SC2086 # the reference command is split on purpose
        measure "$OUT/res/r.log" $ref
    done
    ct=$(cut -d' ' -f1 "$OUT/res/c.log" | median)
    rt=$(cut -d' ' -f1 "$OUT/res/r.log" | median)
    cm=$(cut -d' ' -f2 "$OUT/res/c.log" | median)
    rm_=$(cut -d' ' -f2 "$OUT/res/r.log" | median)
    ratio=$(awk -v a="$ct" -v b="$rt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')
    printf '| %s | %.2f | %.2f | %s | %d | %d | %s | %s |\n' "$name" "$ct" "$rt" "$ratio" \
        $((cm / 1024)) $((rm_ / 1024)) "$(human "$(stat -c %s "$c_out")")" \
        "$(human "$(stat -c %s "$r_out")")" >> "$MD"
    echo "bench: $name done" >&2
done
rm -f "$OUT/res/time.tmp" "$OUT/res/err.tmp"
cat "$MD"
